"""The test peers themselves, without popgate: Dovecot, stunnel and the
certificates behave as the gateway tests assume, and each real client
downloads the nasty messages from Dovecot in the form the gateway tests
expect. If this file fails, the gateway tests' verdicts mean nothing."""
import os
import signal
import ssl
import subprocess
import sys

import clients
import mailgen
import peers
from peers import test

USER, PW = "alice@pop.test", "secret"


def setup(env):
    env.ca = peers.CA(env.dir)
    cert, key = env.ca.issue()
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key, {USER: PW}))
    env.msgs = mailgen.nasty()
    for m in env.msgs:
        env.dovecot.add_message(USER, m)
    env.stunnel = env.start(peers.Stunnel(env.dir, env.dovecot.port_plain, cert, key))


def ctx(env):
    return ssl.create_default_context(cafile=env.ca.cert)


def by_id(msgs):
    return {mailgen.message_id(m): m for m in msgs}


@test
def poplib_implicit_tls_is_byte_identical(env):
    got = clients.poplib_download(env.dovecot.port_tls, USER, PW, "implicit", ctx(env),
                                  host="localhost")
    assert len(got) == len(env.msgs)
    want = by_id(mailgen.wire_form(m) for m in env.msgs)
    for uidl, data in got:
        assert data == want[mailgen.message_id(data)], mailgen.message_id(data)
        assert len(uidl) == 16, uidl


@test
def poplib_stls_and_auth_plain(env):
    got = clients.poplib_download(env.dovecot.port_plain, USER, PW, "stls", ctx(env),
                                  auth="plain", host="localhost")
    assert sorted(d for _, d in got) == sorted(mailgen.wire_form(m) for m in env.msgs)


@test
def curl_pop3s_and_stls(env):
    want = sorted(mailgen.wire_form(m) for m in env.msgs)
    got = clients.curl_download("pop3s", env.dovecot.port_tls, USER, PW,
                                ["--cacert", env.ca.cert], host="localhost")
    assert sorted(got) == want
    got = clients.curl_download("pop3", env.dovecot.port_plain, USER, PW,
                                ["--ssl-reqd", "--cacert", env.ca.cert], host="localhost")
    assert sorted(got) == want


@test
def fetchmail_gets_every_message(env):
    got = clients.fetchmail_download(os.path.join(env.dir, "fm"), env.dovecot.port_tls,
                                     USER, PW, env.ca.cert)
    assert len(got) == len(env.msgs)
    # fetchmail hands the MDA LF line ends and drops every CR, bare or not
    want = by_id(m.replace(b"\r", b"") for m in env.msgs)
    for data in got:
        mid = mailgen.message_id(data)
        # fetchmail hands the MDA LF line ends, ends the last line, and
        # breaks lines longer than 8 kB (its buffer size).
        if mid.startswith("<long."):
            head = want[mid].split(b"\n\n")[0]
            assert data.startswith(head + b"\n\n" + b"A" * 5000 + b"\nshort\n"), mid
        else:
            assert data.rstrip(b"\n") == want[mid].rstrip(b"\n"), mid


@test
def getmail_gets_every_message(env):
    got = clients.getmail_download(os.path.join(env.dir, "gm"), env.dovecot.port_tls,
                                   USER, PW, env.ca.cert)
    assert len(got) == len(env.msgs)
    assert len(set(mailgen.message_id(m) for m in got)) == len(env.msgs)


@test
def stunnel_is_tls12_only(env):
    c = ssl.create_default_context(cafile=env.ca.cert)
    got = clients.poplib_download(env.stunnel.port, USER, PW, "implicit", c, host="localhost")
    assert len(got) == len(env.msgs)
    c = ssl.create_default_context(cafile=env.ca.cert)
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        clients.pop_connect(env.stunnel.port, "implicit", c, "localhost")
    except ssl.SSLError as e:
        assert "VERSION" in str(e).upper(), e
    else:
        raise AssertionError("stunnel accepted TLS 1.3")


@test
def certificates_fail_as_designed(env):
    # openssl verify against our CA: issued ok, expired and self-signed not,
    # wrong name fails the name check.
    good, _ = env.ca.issue()
    r = peers.run(["openssl", "verify", "-CAfile", env.ca.cert, "-verify_hostname",
                   "localhost", good], check=False)
    assert r.returncode == 0, r.stderr
    r = peers.run(["openssl", "verify", "-CAfile", env.ca.cert, "-verify_ip", "127.0.0.1",
                   good], check=False)
    assert r.returncode == 0, r.stderr
    expired, _ = env.ca.expired()
    r = peers.run(["openssl", "verify", "-CAfile", env.ca.cert, expired], check=False)
    assert r.returncode != 0 and b"expired" in r.stdout + r.stderr, r
    wrong, _ = env.ca.wrong_name()
    r = peers.run(["openssl", "verify", "-CAfile", env.ca.cert, "-verify_hostname",
                   "localhost", wrong], check=False)
    assert r.returncode != 0 and b"mismatch" in r.stdout + r.stderr, r
    ss, _ = peers.self_signed(env.dir)
    r = peers.run(["openssl", "verify", "-CAfile", env.ca.cert, ss], check=False)
    assert r.returncode != 0


@test
def maildir_view_tracks_deletion(env):
    extra = mailgen.message("to be deleted")
    env.dovecot.add_message(USER, extra)
    before = env.dovecot.upstream(USER)
    assert extra in before
    p = clients.pop_connect(env.dovecot.port_tls, "implicit", ctx(env), "localhost")
    clients.pop_login(p, USER, PW)
    ids = clients.uidls(p)
    for n in ids:
        if clients.retr(p, n) == extra:
            p.dele(n)
    p.quit()
    after = env.dovecot.upstream(USER)
    assert extra not in after and len(after) == len(before) - 1


@test
def big_message_direct(env):
    big = mailgen.big(3 * 1024 * 1024)
    env.dovecot.add_user("big@pop.test", "pw")
    env.dovecot.add_message("big@pop.test", big)
    got = clients.poplib_download(env.dovecot.port_tls, "big@pop.test", "pw", "implicit",
                                  ctx(env), host="localhost")
    assert got[0][1] == big


SIGTERM_CHILD = """\
import time
import peers
from peers import test


def setup(env):
    ca = peers.CA(env.dir)
    cert, key = ca.issue()
    d = env.start(peers.Dovecot(env.dir, cert, key))
    st = env.start(peers.Stunnel(env.dir, d.port_plain, cert, key))
    print(f"# peers {env.dir} {d.pid} {st.proc.pid}", flush=True)


@test
def waits(env):
    time.sleep(60)


peers.main(setup, prefix="popgate-sigterm-")
"""


@test
def sigterm_stops_every_peer(env):
    # A harness that times a file out sends SIGTERM: the daemonized Dovecot
    # and stunnel must not outlive the file, nor its temp folder.
    script = peers.write_file(os.path.join(env.dir, "sigterm_child.py"), SIGTERM_CHILD)
    child_env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(peers.__file__)))
    p = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE, text=True,
                         env=child_env)
    try:
        line = ""
        for line in p.stdout:
            if line.startswith("# peers "):
                break
        assert line.startswith("# peers "), f"the child started no peers: {line!r}"
        tmp, dovecot_pid, stunnel_pid = line.split()[2:5]
        assert peers.pid_alive(int(dovecot_pid)) and peers.pid_alive(int(stunnel_pid))
        p.send_signal(signal.SIGTERM)
        rest = p.stdout.read()
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 128 + signal.SIGTERM, f"exit status {rc}: {rest!r}"
    assert "SIGTERM: stopping the peers" in rest, rest
    assert not peers.pid_alive(int(dovecot_pid)), "Dovecot outlived the file"
    assert not peers.pid_alive(int(stunnel_pid)), "stunnel outlived the file"
    left = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if tmp.encode() in f.read():
                    left.append(int(d))
        except OSError:
            pass
    assert not left, f"processes still running from {tmp}: {left}"
    assert not os.path.exists(tmp), f"{tmp} was left behind"


if __name__ == "__main__":
    peers.main(setup)
