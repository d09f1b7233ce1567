#!/usr/bin/env python3
"""pop3-client against real servers: two Dovecots (TLS 1.2+ and TLS-1.3-only)
and stunnel in front of Dovecot's plain port (TLS-1.2-only, expired and
self-signed certificates), driven through tests/unit/test-pop3c-live.

The peers come from tests/lib/peers.py: certificates from a test CA made
there, every server on 127.0.0.1 on free ports in a temp folder, stopped by
its PID when the file ends.
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import threading
import subprocess
import sys
import time

import peers
from peers import test

BUILD = os.environ.get("top_builddir", ".")
DRIVER = os.path.join(BUILD, "tests", "unit", "test-pop3c-live")
free_port = peers.free_port


def message(subject, body_lines):
    head = [f"From: sender@example.org", "To: alice@pop.test", f"Subject: {subject}",
            "Message-ID: <%s@example.org>" % hashlib.sha1(subject.encode()).hexdigest(),
            "Date: Fri, 04 Dec 2026 10:00:00 +0000", ""]
    return ("\r\n".join(head + body_lines) + "\r\n").encode()


def dovecot(env, directory, users, mail, ssl_min_protocol):
    """A Dovecot that refuses logins before TLS, offers APOP and answers a
    wrong password at once; mail: {user: [raw message, ...]}."""
    d = peers.Dovecot(directory, env.cert, env.key, users, ssl_min_protocol=ssl_min_protocol,
                      auth_mechanisms="plain login apop", plaintext_auth=False,
                      auth_failure_delay=0)
    for user, msgs in mail.items():
        for data in msgs:
            d.add_message(user, data)
    return env.start(d)


def setup(env):
    env.ca = peers.CA(env.dir)
    env.cert, env.key = env.ca.issue("localhost", sans=["DNS:localhost", "DNS:pop.test",
                                                        "IP:127.0.0.1"])
    old = env.ca.issue("localhost", sans=["DNS:localhost", "IP:127.0.0.1"], expired=True)
    env.self_signed = peers.self_signed(env.dir, sans=["DNS:localhost", "IP:127.0.0.1"])

    # Bodies with dot lines, bare dots, long lines, and a 20 MB message.
    m1 = message("hello", ["just a line"])
    m2 = message("dots", [".leading dot", "..two dots", ".", "a line", "", " . ", "end."])
    big_line = "x" * 100000
    m3 = message("big", [big_line] * 4 + [f"{i:09d} " + "y" * 990 for i in range(20000)])
    env.msgs = [m1, m2, m3]
    users = {"alice@pop.test": "secret", "bob@pop.test": "hunter2 with spaces"}
    env.dv = dovecot(env, env.dir, users,
                     {"alice@pop.test": [m1, m2, m3], "bob@pop.test": [m1, m2]}, "TLSv1.2")
    env.dv13 = dovecot(env, os.path.join(env.dir, "d13"), {"alice@pop.test": "secret"},
                       {"alice@pop.test": [m1]}, "TLSv1.3")
    plain = env.dv.port_plain
    env.st = {
        "tls12": env.start(peers.Stunnel(env.dir, plain, env.cert, env.key, tls_max="TLSv1.2")),
        "expired": env.start(peers.Stunnel(env.dir, plain, *old, tls_max=None)),
        "selfsigned": env.start(peers.Stunnel(env.dir, plain, *env.self_signed, tls_max=None)),
    }


def run(env, port, *args, host="127.0.0.1", user="alice@pop.test", password="secret", ca=True):
    cmd = [DRIVER, "-u", user, "-p", password, "-t", "10000"]
    if ca:
        cmd += ["-C", env.ca.cert]
    cmd += list(args) + [host, str(port)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    out = {"lines": p.stdout.splitlines(), "rc": p.returncode, "stdout": p.stdout}
    for line in out["lines"]:
        word, _, rest = line.partition(" ")
        out.setdefault(word, rest)
    if "result" not in out:
        raise AssertionError(f"driver said nothing useful: {p.stdout!r} {p.stderr!r}")
    return out


def expect_ok(r):
    assert r["result"] == "ok" and r["rc"] == 0, r["stdout"]


def expect_fail(r, code, stage=None):
    res = r["result"]
    assert res.startswith("fail") and f"code={code} " in res, r["stdout"]
    if stage:
        assert f"stage={stage} " in res, r["stdout"]


@test
def implicit_tls_custom_ca_auto_uses_auth_plain(env):
    r = run(env, env.dv.port_tls, "-l", host="localhost")
    expect_ok(r)
    assert r["auth"] == "plain", r["stdout"]
    assert r["tls"].startswith("TLSv1.3"), r["stdout"]
    msgs = [l.split() for l in r["lines"] if l.startswith("msg ")]
    assert [m[1] for m in msgs] == ["1", "2", "3"], msgs
    assert [int(m[3]) for m in msgs] == [len(m) for m in env.msgs], (msgs, [len(m) for m in env.msgs])
    assert len(set(m[2] for m in msgs)) == 3


@test
def stls_on_the_plain_port(env):
    r = run(env, env.dv.port_plain, "-s", "-l")
    expect_ok(r)
    assert r["tls"].startswith("TLSv1.3"), r["stdout"]
    assert r["msg"].startswith("1 "), r["stdout"]


@test
def user_pass_login(env):
    r = run(env, env.dv.port_tls, "-a", "user")
    expect_ok(r)
    assert r["auth"] == "user"


@test
def auth_plain_through_a_continuation(env):
    r = run(env, env.dv.port_tls, "-a", "plain", "-I", user="bob@pop.test", password="hunter2 with spaces")
    expect_ok(r)
    assert r["auth"] == "plain"


@test
def apop_login(env):
    r = run(env, env.dv.port_tls, "-a", "apop")
    expect_ok(r)
    assert r["auth"] == "apop"
    assert "<" in r["greeting"] and "@" in r["greeting"], r["greeting"]


@test
def wrong_password_is_auth_failed(env):
    for mech in ("user", "plain", "apop"):
        r = run(env, env.dv.port_tls, "-a", mech, password="wrong")
        expect_fail(r, "auth_failed", "auth")
        assert "resp=AUTH" in r["result"], r["stdout"]
        assert "wrong" not in r["stdout"].replace("-p wrong", ""), "password leaked"


@test
def retr_is_byte_identical_with_dots(env):
    out = os.path.join(env.dir, "m2.eml")
    r = run(env, env.dv.port_tls, "-r", f"2:{out}")
    expect_ok(r)
    with open(out, "rb") as f:
        got = f.read()
    assert got == env.msgs[1], (got, env.msgs[1])
    assert r["retr"] == f"2 {len(env.msgs[1])}"


@test
def retr_20mb_streams_with_bounded_memory(env):
    out = os.path.join(env.dir, "m3.eml")
    t0 = time.monotonic()
    r = run(env, env.dv.port_tls, "-r", f"3:{out}")
    ours = time.monotonic() - t0
    expect_ok(r)
    if shutil.which("curl"):
        # Not asserted: a figure to compare with a well-known client in the same run.
        t0 = time.monotonic()
        subprocess.run(["curl", "-s", "--cacert", env.ca.cert, "-u", "alice@pop.test:secret",
                        "-o", out + ".curl", f"pop3s://localhost:{env.dv.port_tls}/3"], timeout=60)
        theirs = time.monotonic() - t0
        print(f"# 20 MB RETR over TLS: pop3-client {ours:.2f} s, curl {theirs:.2f} s")
    with open(out, "rb") as f:
        got = f.read()
    assert len(env.msgs[2]) > 20_000_000
    assert hashlib.sha256(got).digest() == hashlib.sha256(env.msgs[2]).digest(), len(got)
    big_kb = int(r["maxrss"])
    # The same RETR path for a tiny message gives the baseline (libraries, TLS, ASan).
    r = run(env, env.dv.port_tls, "-r", f"1:{out}.small")
    expect_ok(r)
    small_kb = int(r["maxrss"])
    print(f"# peak RSS: {big_kb} KB for the {len(got)} byte message, {small_kb} KB for a tiny one")
    assert big_kb - small_kb < 4000, f"RETR memory grows with the message: {big_kb} vs {small_kb} KB"


@test
def too_big_message_fails_and_session_survives(env):
    out = os.path.join(env.dir, "m3-cut.eml")
    r = run(env, env.dv.port_tls, "-r", f"3:{out}", "-x", "1000000")
    expect_fail(r, "message_too_big")
    assert "noop ok" in r["lines"], r["stdout"]
    assert os.path.getsize(out) <= 1000000


@test
def top_returns_the_headers(env):
    out = os.path.join(env.dir, "top.eml")
    r = run(env, env.dv.port_tls, "-T", f"2:0:{out}")
    expect_ok(r)
    with open(out, "rb") as f:
        got = f.read()
    assert got == env.msgs[1].split(b"\r\n\r\n")[0] + b"\r\n\r\n", got


@test
def wrong_host_name_is_cert_name_mismatch(env):
    r = run(env, env.dv.port_tls, "-R", "other.test=127.0.0.1", host="other.test")
    expect_fail(r, "cert_name_mismatch", "tls")
    r = run(env, env.dv.port_tls, "-R", "pop.test=127.0.0.1", host="pop.test")
    expect_ok(r)


@test
def unknown_ca_is_cert_untrusted(env):
    r = run(env, env.dv.port_tls, ca=False)
    expect_fail(r, "cert_untrusted", "tls")


@test
def expired_is_cert_expired(env):
    r = run(env, env.st["expired"].port)
    expect_fail(r, "cert_expired", "tls")


@test
def self_signed_is_cert_self_signed(env):
    r = run(env, env.st["selfsigned"].port)
    expect_fail(r, "cert_self_signed", "tls")


@test
def tls12_only_stunnel_works_with_defaults(env):
    r = run(env, env.st["tls12"].port, "-l")
    expect_ok(r)
    assert r["tls"].startswith("TLSv1.2"), r["stdout"]


@test
def tls12_only_stunnel_with_min_13_is_version_mismatch(env):
    r = run(env, env.st["tls12"].port, "-m", "1.3")
    expect_fail(r, "tls_version_mismatch", "tls")


@test
def tls13_only_dovecot_with_max_12_is_version_mismatch(env):
    r = run(env, env.dv13.port_tls, "-M", "1.2")
    expect_fail(r, "tls_version_mismatch", "tls")
    assert "TLSv1.3" in r["result"], r["stdout"]
    r = run(env, env.dv13.port_tls)
    expect_ok(r)


@test
def implicit_tls_on_the_plain_port_says_so(env):
    r = run(env, env.dv.port_plain)
    expect_fail(r, "tls_handshake_failed", "tls")
    assert "STLS" in r["result"] or "plain" in r["result"], r["stdout"]


@test
def refused_and_unresolvable(env):
    r = run(env, free_port())
    expect_fail(r, "connect_failed", "connect")
    assert "attempt 127.0.0.1:" in r["stdout"], r["stdout"]
    r = run(env, 995, "-R", "pop.test=127.0.0.1", host="nx.test")
    expect_fail(r, "dns_failed", "dns")


@test
def dele_then_quit_removes_the_message(env):
    r = run(env, env.dv.port_tls, "-l", user="bob@pop.test", password="hunter2 with spaces")
    before = [l for l in r["lines"] if l.startswith("msg ")]
    # DELE without QUIT changes nothing.
    r = run(env, env.dv.port_tls, "-d", "1", user="bob@pop.test", password="hunter2 with spaces")
    expect_ok(r)
    r = run(env, env.dv.port_tls, "-l", user="bob@pop.test", password="hunter2 with spaces")
    assert [l for l in r["lines"] if l.startswith("msg ")] == before
    r = run(env, env.dv.port_tls, "-d", "1", "-q", user="bob@pop.test", password="hunter2 with spaces")
    expect_ok(r)
    r = run(env, env.dv.port_tls, "-l", user="bob@pop.test", password="hunter2 with spaces")
    after = [l for l in r["lines"] if l.startswith("msg ")]
    assert len(after) == len(before) - 1 and after[0].split()[2] == before[1].split()[2], (before, after)


def diag(env, port, *args, **kw):
    r = run(env, port, "-D", *args, **kw)
    assert kw.get("password", "secret") not in r["diag"], "password in the report"
    return json.loads(r["diag"])


@test
def diag_success_reports_tls_certificate_and_mailbox(env):
    d = diag(env, env.dv.port_tls, host="localhost")
    assert d["ok"] is True, d
    assert d["tls"]["verified"] is True and d["tls"]["version"] == "TLSv1.3", d["tls"]
    assert d["certificate"]["sans"] == "DNS:localhost, DNS:pop.test, IP:127.0.0.1", d["certificate"]
    assert d["certificate"]["pin"].startswith("sha256/")
    assert d["messages"] == 3 and d["bytes"] == sum(len(m) for m in env.msgs), d
    assert any(c.startswith("SASL") for c in d["capabilities"]), d["capabilities"]
    assert d["addresses"][-1]["result"] == "connected", d["addresses"]
    assert "hint" not in d


@test
def diag_self_signed_shows_the_certificate_to_trust(env):
    d = diag(env, env.st["selfsigned"].port)
    assert d["ok"] is False and d["code"] == "cert_self_signed", d
    assert d["tls"]["verified"] is False
    c = d["certificate"]
    assert c["self_signed"] is True and c["pin"].startswith("sha256/"), c
    # The pin in the report is the real key's pin (as openssl computes it).
    pub = subprocess.run(["openssl", "x509", "-in", env.self_signed[0], "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    assert c["pin"] == "sha256/" + base64.b64encode(hashlib.sha256(der).digest()).decode(), c["pin"]
    assert "BEGIN CERTIFICATE" in d["chain_pem"]
    assert "pin" in d["hint"] and "custom" in d["hint"], d["hint"]


@test
def diag_expired_and_wrong_name(env):
    d = diag(env, env.st["expired"].port)
    assert d["code"] == "cert_expired" and d["certificate"]["expired"] is True, d
    d = diag(env, env.dv.port_tls, "-R", "other.test=127.0.0.1", host="other.test")
    assert d["code"] == "cert_name_mismatch" and "pop.test" in d["certificate"]["sans"], d
    assert "certificate.sans" in d["hint"]


@test
def diag_version_mismatch_names_the_servers_version(env):
    d = diag(env, env.dv13.port_tls, "-M", "1.2")
    assert d["code"] == "tls_version_mismatch", d
    assert d["tls"]["version"] == "TLSv1.3" and d["tls_max"] == "TLSv1.2", d
    assert "TLS range" in d["hint"]


@test
def diag_auth_failure_and_refused_port(env):
    d = diag(env, env.dv.port_tls, password="not-the-password")
    assert d["code"] == "auth_failed" and d["stage"] == "auth" and d["response_code"] == "AUTH", d
    assert "certificate" not in d
    d = diag(env, free_port())
    assert d["code"] == "connect_failed" and d["addresses"][0]["result"] == "Connection refused", d


@test
def diag_reports_ssl_cert_file_override(env):
    environ = dict(os.environ, SSL_CERT_FILE=env.ca.cert)
    p = subprocess.run([DRIVER, "-D", "-u", "alice@pop.test", "-p", "secret", "localhost",
                        str(env.dv.port_tls)], capture_output=True, text=True, env=environ, timeout=60)
    d = json.loads(p.stdout.split("diag ", 1)[1].splitlines()[0])
    # The test CA is only in SSL_CERT_FILE: the system store must not trust it.
    assert d["ok"] is False and d["code"] == "cert_untrusted", d
    assert d["environment_override"] is True and "SSL_CERT_FILE=" in d["environment"], d


class Misbehaving:
    """A POP3S server that breaks the protocol on purpose, one way per mode:
    what no real server does on demand, to see pop3-client's error paths."""

    def __init__(self, cert, key, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        raw, _ = self.sock.accept()
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
            f = c.makefile("rwb", buffering=0)
            m = self.mode
            if m == "silent":
                time.sleep(3)
                return
            f.write(b"* OK IMAP4rev1 ready\r\n" if m == "imap" else b"+OK hi\r\n")
            for line in f:
                cmd = line.strip().split(b" ")[0].upper()
                if cmd == b"CAPA":
                    f.write(b"-ERR no CAPA here\r\n")
                elif cmd == b"USER":
                    f.write(b"+OK\r\n")
                elif cmd == b"PASS":
                    f.write(b"-ERR [SYS/TEMP] backend down\r\n" if m == "temp" else b"+OK\r\n")
                elif cmd == b"UIDL":
                    if m == "longuidl":
                        f.write(b"+OK\r\n1 " + b"u" * 3000 + b"\r\n.\r\n")
                    elif m == "dupuidl":
                        f.write(b"+OK\r\n1 a\r\n1 b\r\n.\r\n")
                    else:
                        f.write(b"+OK\r\n1 a\r\n.\r\n")
                elif cmd == b"LIST":
                    f.write(b"+OK\r\n1 100\r\n.\r\n")
                elif cmd == b"NOOP":
                    f.write(b"+OK\r\n")
                elif cmd == b"RETR":
                    f.write(b"+OK\r\nSubject: cut\r\n\r\nhalf a bo")
                    return
                else:
                    f.write(b"-ERR what\r\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            raw.close()

    def close(self):
        self.sock.close()
        self.thread.join(5)


def misbehave(env, mode, *args):
    srv = Misbehaving(env.cert, env.key, mode)
    try:
        return run(env, srv.port, "-a", "user", *args, host="localhost")
    finally:
        srv.close()


@test
def an_imap_greeting_is_a_protocol_error(env):
    r = misbehave(env, "imap")
    expect_fail(r, "pop3_protocol_error", "greeting")
    assert "IMAP4rev1" in r["result"], r["stdout"]


@test
def sys_temp_on_login_is_temporary(env):
    r = misbehave(env, "temp")
    expect_fail(r, "server_temporary_failure", "auth")
    assert "resp=SYS/TEMP" in r["result"], r["stdout"]


@test
def a_silent_server_times_out_at_the_greeting(env):
    srv = Misbehaving(env.cert, env.key, "silent")
    try:
        t0 = time.monotonic()
        r = run(env, srv.port, "-t", "500", host="localhost")
        took = time.monotonic() - t0
    finally:
        srv.close()
    expect_fail(r, "timeout", "greeting")
    assert took < 2.5, took


@test
def a_uidl_line_too_long_is_refused_and_drained(env):
    r = misbehave(env, "longuidl", "-l", "-q")
    expect_fail(r, "pop3_protocol_error")
    assert "too long" in r["result"], r["stdout"]


@test
def a_message_number_listed_twice_is_refused(env):
    r = misbehave(env, "dupuidl", "-l")
    expect_fail(r, "pop3_protocol_error")
    assert "twice" in r["result"], r["stdout"]


@test
def a_connection_cut_inside_a_message_is_an_error(env):
    out = os.path.join(env.dir, "cut.eml")
    r = misbehave(env, "cut", "-r", f"1:{out}")
    expect_fail(r, "pop3_protocol_error", "command")
    assert "closed" in r["result"], r["stdout"]
    assert "noop ok" not in r["lines"], "a cut session must not look usable"


if shutil.which("dovecot") is None or shutil.which("stunnel") is None:
    print("1..0 # SKIP dovecot or stunnel missing (apt-get install dovecot-pop3d stunnel4)")
    sys.exit(0)
peers.main(setup, prefix="popgate-pop3c-")
