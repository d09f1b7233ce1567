"""popgate against upstreams of several kinds: a TLS-1.2-only server
(stunnel in front of Dovecot), each upstream login method (USER/PASS,
AUTH PLAIN, APOP), certificates that must be refused (wrong name, expired,
self-signed), the sender block list, a 20 MB message streamed in bounded
memory, check-config's error lines, and kill -9 in the middle of a sync."""
import os
import signal
import threading
import time

import clients
import mailgen
import peers
from peers import test

UP_PW = "upstream-secret"
PW = "local-pw"
TOM, AUTH, VIC, SPAM, BIG, CRASH = ("tom@pop.test", "auth@pop.test", "victim@pop.test",
                                    "spam@pop.test", "big@pop.test", "crash@pop.test")
QUIT = [f"quit{i}@pop.test" for i in range(3)]
FLAKY = "flaky@pop.test"
STALL = "stall@pop.test"
TIMER = "timer@pop.test"


def setup(env):
    env.ca = peers.CA(env.dir)
    cert, key = env.ca.issue()
    env.cert, env.key = cert, key
    env.dovecot = env.start(peers.Dovecot(
        env.dir, cert, key, {u: UP_PW for u in [TOM, AUTH, VIC, SPAM, BIG, CRASH, FLAKY, STALL, TIMER] + QUIT},
        auth_mechanisms="plain login apop"))
    d = env.dovecot
    env.tom = [mailgen.message("old server", tag="tom"), mailgen.dots(), mailgen.long_lines()]
    env.auth = [mailgen.message("auth methods", tag="auth"), mailgen.eight_bit()]
    env.vic = [mailgen.message("must not be fetched over a bad cert", tag="vic")]
    for user, msgs in ((TOM, env.tom), (AUTH, env.auth), (VIC, env.vic)):
        for m in msgs:
            d.add_message(user, m)
    env.tls12 = env.start(peers.Stunnel(env.dir, d.port_plain, cert, key, tls_max="TLSv1.2"))
    env.tls13 = env.start(peers.Stunnel(env.dir, d.port_plain, cert, key, tls_max="TLSv1.3",
                                        tls_min="TLSv1.3"))
    env.flaky = env.start(peers.Stunnel(env.dir, d.port_plain, cert, key, tls_max="TLSv1.3"))
    bad = {"wrongname": env.ca.wrong_name(), "expired": env.ca.expired(),
           "selfsigned": peers.self_signed(env.dir)}
    env.bad = {k: env.start(peers.Stunnel(env.dir, d.port_plain, c, k2, tls_max="TLSv1.3"))
               for k, (c, k2) in bad.items()}

    pg = env.pg = env.add(peers.Popgate(env.dir, login_wait=10))
    ca = env.ca.cert
    pg.user_add("tom", PW)
    pg.account_add("old", "tom", "localhost", env.tls12.port, TOM, UP_PW, "implicit", ca)
    pg.account_add("new", "tom", "localhost", env.tls13.port, TOM, UP_PW, "implicit", ca)
    pg.account_add("flaky", "tom", "localhost", env.flaky.port, FLAKY, UP_PW, "implicit", ca)
    pg.user_add("auth", PW)
    for method in ("user", "plain", "apop"):
        pg.account_add(method, "auth", "localhost", d.port_tls, AUTH, UP_PW, "implicit", ca,
                       auth=method)
    pg.account_add("stls", "auth", "localhost", d.port_plain, AUTH, UP_PW, "starttls", ca)
    pg.user_add("vic", PW)
    for kind, st in env.bad.items():
        pg.account_add(kind, "vic", "localhost", st.port, VIC, UP_PW, "implicit", ca)
    pg.account_add("badpw", "vic", "localhost", d.port_tls, VIC, "not the password",
                   "implicit", ca)
    pg.user_add("spam", PW)
    pg.account_add("main", "spam", "localhost", d.port_tls, SPAM, UP_PW, "implicit", ca)
    pg.list_add("block", "*@spam.example")
    pg.start()


def ctx(env):
    return env.pg.ssl_context()


def download(env, user, port=None):
    return clients.poplib_download(port or env.pg.port_tls, user, PW, "implicit", ctx(env))


def same(got, want, what=""):
    """got: [(uidl, data)]; want: messages as put upstream."""
    mailgen.assert_same([d for _, d in got], [mailgen.wire_form(m) for m in want], what)
    return True


@test
def tls12_only_upstream_works(env):
    clients.wait_count(env.pg.port_tls, "tom/old", PW, len(env.tom), ctx(env))
    assert same(download(env, "tom/old"), env.tom)


@test
def tls13_only_upstream_works(env):
    clients.wait_count(env.pg.port_tls, "tom/new", PW, len(env.tom), ctx(env))
    assert same(download(env, "tom/new"), env.tom)


@test
def upstream_login_methods(env):
    for method in ("user", "plain", "apop", "stls"):
        clients.wait_count(env.pg.port_tls, f"auth/{method}", PW, len(env.auth), ctx(env))
        assert same(download(env, f"auth/{method}"), env.auth), method


@test
def concurrent_sessions_get_their_own_mail(env):
    # Four sessions at once (one per account of the same user), five rounds:
    # no crosstalk between sessions, every download byte-identical.
    for method in ("user", "plain", "apop", "stls"):
        clients.wait_count(env.pg.port_tls, f"auth/{method}", PW, len(env.auth), ctx(env))
    errors = []

    def worker(method):
        try:
            for _ in range(5):
                same(download(env, f"auth/{method}"), env.auth, method)
        except Exception as e:
            errors.append(f"{method}: {e!r}")
    threads = [threading.Thread(target=worker, args=(m,)) for m in ("user", "plain", "apop", "stls")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


@test
def bad_upstream_certificates_and_password_are_refused(env):
    # Each sync must fail (on the certificate, or the upstream password):
    # nothing is fetched, and the local login still works. A login waits for
    # the sync, so by the time STAT answers the attempt is over.
    for kind in list(env.bad) + ["badpw"]:
        for _ in range(2):
            count, _ = clients.stat(env.pg.port_tls, f"vic/{kind}", PW, "implicit", ctx(env))
            assert count == 0, f"{kind}: fetched {count} messages over a bad certificate"
    env.dovecot.assert_holds(VIC, env.vic)


@test
def blocked_sender_is_not_shown(env):
    spam = mailgen.message("Cheap offers", sender="Offers <offers@spam.example>", tag="spam")
    ham = mailgen.message("Lunch?", sender="Friend <friend@example.org>", tag="ham")
    near = mailgen.message("Not blocked", sender="someone@notspam.example", tag="near")
    for m in (spam, ham, near):
        env.dovecot.add_message(SPAM, m)
    clients.wait_count(env.pg.port_tls, "spam/main", PW, 2, ctx(env))
    got = download(env, "spam/main")
    assert same(got, [ham, near]), [mailgen.message_id(d) for _, d in got]
    # quarantined, not deleted upstream (nobody asked for that)
    assert spam in env.dovecot.upstream(SPAM)


@test
def big_message_streams_in_bounded_memory(env):
    pg = env.add(peers.Popgate(env.dir, name="popgate-big", login_wait=60, timeout=120))
    if pg.has_asan():
        # ASan's quarantine keeps freed buffers resident; it says nothing
        # about what popgate holds.
        pg.environ = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                      ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"}
    pg.user_add("big", PW)
    pg.account_add("main", "big", "localhost", env.dovecot.port_tls, BIG, UP_PW, "implicit",
                   env.ca.cert)
    pg.start()
    # warm up: a session and a (small) sync
    small = mailgen.message("small first", tag="small")
    env.dovecot.add_message(BIG, small)
    clients.wait_count(pg.port_tls, "big", PW, 1, pg.ssl_context())
    download(env, "big", pg.port_tls)
    base = pg.vm_hwm_kb()
    big = mailgen.big(20 * 1024 * 1024)
    env.dovecot.add_message(BIG, big)
    clients.wait_count(pg.port_tls, "big", PW, 2, pg.ssl_context(), timeout=120)
    after_sync = pg.vm_hwm_kb()
    got = download(env, "big", pg.port_tls)
    after_retr = pg.vm_hwm_kb()
    datas = sorted((mailgen.strip_popgate_headers(d) for _, d in got), key=len)
    assert datas[1] == big, f"20 MB message differs ({len(datas[1])} bytes, want {len(big)})"
    # A client that asks for the big message and then reads nothing for a
    # while must not make popgate buffer it.
    n = next(u for u, d in got if len(d) > len(big) - 1)
    r = clients.Raw(pg.port_tls, tls=True)
    r.cmd("USER big")
    assert r.cmd(f"PASS {PW}").startswith(b"+OK")
    uidls = {}
    assert r.cmd("UIDL").startswith(b"+OK")
    for line in r.multi():
        num, u = line.decode().split()
        uidls[u] = int(num)
    r.send(f"RETR {uidls[n]}\r\n")
    time.sleep(1.0)
    after_stall = pg.vm_hwm_kb()
    assert r.line().startswith(b"+OK")
    body = b"\r\n".join(r.multi()) + b"\r\n"
    assert mailgen.strip_popgate_headers(body) == big
    r.cmd("QUIT")
    print(f"# VmHWM: {base} kB before, {after_sync} kB after sync, {after_retr} kB after RETR, "
          f"{after_stall} kB with a stalled reader")
    grew = max(after_retr, after_stall) - base
    assert grew < 8 * 1024, f"peak RSS grew by {grew} kB for a 20 MB message"


@test
def check_config_reports_line(env):
    path = os.path.join(env.dir, "bad.ini")
    peers.write_file(path, "[general]\nstate_dir = /tmp/x\n\nfrobnicate = yes\n")
    r = peers.run([env.pg.bin, "check-config", "-c", path], check=False)
    out = (r.stdout + r.stderr).decode()
    assert r.returncode != 0, out
    assert f"{path}:4:" in out and "unknown key" in out, out
    peers.write_file(path, "[general]\nstate_dir = /tmp/x\n[pop3]\nlisten = 127.0.0.1:x\n")
    r = peers.run([env.pg.bin, "check-config", "-c", path], check=False)
    out = (r.stdout + r.stderr).decode()
    assert r.returncode != 0 and f"{path}:4:" in out, out
    r = peers.run([env.pg.bin, "check-config", "-c", env.pg.config], check=False)
    assert r.returncode == 0 and b"configuration OK" in r.stdout, r


@test
def kill9_during_sync_loses_and_duplicates_nothing(env):
    msgs = mailgen.corpus(60, seed=9, min_size=200000, max_size=600000)
    for m in msgs:
        env.dovecot.add_message(CRASH, m)
    pg = env.add(peers.Popgate(env.dir, name="popgate-crash", interval=1, login_wait=60,
                               timeout=120))
    pg.user_add("crash", PW)
    pg.account_add("main", "crash", "localhost", env.dovecot.port_tls, CRASH, UP_PW,
                   "implicit", env.ca.cert)
    kills = []
    for round_ in range(3):
        pg.start()
        start = pg.state_bytes()
        # a login asks for a sync; it is cut off by the kill
        t = threading.Thread(target=lambda: _try_stat(pg), daemon=True)
        t.start()
        # until the sync has written 2 MB more, or the login came back
        # (the sync is over: nothing left to interrupt)
        peers.wait_until(lambda: pg.state_bytes() > start + 2 * 1024 * 1024 or not t.is_alive(),
                         60, 0.005, "sync progress")
        if pg.state_bytes() <= start + 2 * 1024 * 1024:
            break
        pg.kill9()
        kills.append(pg.state_bytes())
        t.join(5)
    print(f"# killed {len(kills)} times mid-sync, state size at each kill: {kills}")
    assert kills, "never caught a sync in progress"
    if not pg.running():
        pg.start()
    clients.wait_count(pg.port_tls, "crash/main", PW, len(msgs), pg.ssl_context(), timeout=120)
    got = clients.poplib_download(pg.port_tls, "crash/main", PW, "implicit", pg.ssl_context())
    direct = clients.poplib_download(env.dovecot.port_tls, CRASH, UP_PW, "implicit",
                                     env.dovecot.ssl_context(env.ca.cert), host="localhost")
    uidls = [u for u, _ in got]
    assert len(set(uidls)) == len(uidls), "a UIDL shown twice"
    assert sorted(uidls) == sorted(u for u, _ in direct), "UIDLs differ from upstream"
    assert same(got, msgs), "content differs"
    env.dovecot.assert_holds(CRASH, msgs)


@test
def kill9_around_quit_keeps_what_was_not_deleted(env):
    # DELE one of three, QUIT, and kill -9 at once: the two others must
    # survive everywhere; the deleted one is either still in both places
    # (the QUIT never committed) or gone from both once popgate is back.
    pg = env.add(peers.Popgate(env.dir, name="popgate-quit", interval=1, login_wait=30))
    pg.user_add("quit", PW)
    for i in range(3):
        pg.account_add(f"q{i}", "quit", "localhost", env.dovecot.port_tls, QUIT[i], UP_PW,
                       "implicit", env.ca.cert)
    pg.start()
    for i, delay in enumerate((0, 0.002, 0.02)):
        user = f"quit/q{i}"
        msgs = [mailgen.message(f"quit {i}.{k}", tag=f"quit{i}") for k in range(3)]
        for m in msgs:
            env.dovecot.add_message(QUIT[i], m)
        clients.wait_count(pg.port_tls, user, PW, 3, pg.ssl_context())
        r = clients.Raw(pg.port_tls, tls=True)
        r.cmd(f"USER {user}")
        assert r.cmd(f"PASS {PW}").startswith(b"+OK")
        assert r.cmd("RETR 1").startswith(b"+OK")
        victim = mailgen.message_id(b"\r\n".join(r.multi()))
        assert r.cmd("DELE 1").startswith(b"+OK")
        r.send("QUIT\r\n")
        if delay:
            time.sleep(delay)
        pg.kill9()
        r.close()
        pg.start()
        keep = [m for m in msgs if mailgen.message_id(m) != victim]
        victim_msg = next(m for m in msgs if mailgen.message_id(m) == victim)

        def settled():
            up = env.dovecot.upstream(QUIT[i])
            try:
                got = clients.poplib_download(pg.port_tls, user, PW, "implicit",
                                              pg.ssl_context())
            except Exception:
                return None
            shown = [mailgen.strip_popgate_headers(d) for _, d in got]
            both = victim_msg in up and mailgen.wire_form(victim_msg) in shown
            neither = victim_msg not in up and mailgen.wire_form(victim_msg) not in shown
            return (both or neither) and (up, shown)
        up, shown = peers.wait_until(settled, 30, 0.2, "a consistent state after the crash")
        for m in keep:
            assert m in up, f"round {i}: {mailgen.message_id(m)} lost upstream"
            assert mailgen.wire_form(m) in shown, f"round {i}: {mailgen.message_id(m)} not shown"
        assert len(shown) == len(set(shown)), f"round {i}: a message shown twice"


def _try_stat(pg):
    try:
        clients.stat(pg.port_tls, "crash", PW, "implicit", pg.ssl_context())
    except Exception:
        pass


@test
def mail_stays_readable_while_upstream_is_down(env):
    clients.wait_count(env.pg.port_tls, "tom/old", PW, len(env.tom), ctx(env))
    env.tls12.stop()
    assert not peers.port_open(env.tls12.port)
    # the login's sync fails, the client still gets what popgate holds
    got = download(env, "tom/old")
    assert same(got, env.tom, "upstream down")
    assert env.pg.running()


@test
def quit_while_upstream_is_down_is_answered_and_kept_consistent(env):
    msgs = [mailgen.message(f"flaky {k}", tag="flaky") for k in range(3)]
    for m in msgs:
        env.dovecot.add_message(FLAKY, m)
    clients.wait_count(env.pg.port_tls, "tom/flaky", PW, 3, ctx(env))
    r = clients.Raw(env.pg.port_tls, tls=True)
    r.cmd("USER tom/flaky")
    assert r.cmd(f"PASS {PW}").startswith(b"+OK")
    assert r.cmd("RETR 1").startswith(b"+OK")
    victim = mailgen.message_id(b"\r\n".join(r.multi()))
    assert r.cmd("DELE 1").startswith(b"+OK")
    env.flaky.stop()
    t0 = time.monotonic()
    reply = r.cmd("QUIT")
    took = time.monotonic() - t0
    print(f"# QUIT with the upstream down: {reply!r} after {took:.1f} s")
    assert reply.startswith((b"+OK", b"-ERR [SYS/TEMP]")), reply
    assert took < 60, f"QUIT took {took:.0f} s"
    env.flaky.start()
    keep = [m for m in msgs if mailgen.message_id(m) != victim]

    def state():
        got = download(env, "tom/flaky")
        return ({mailgen.message_id(d) for _, d in got},
                {mailgen.message_id(m) for m in env.dovecot.upstream(FLAKY)})
    if reply.startswith(b"+OK"):
        # the deletion was accepted: a later sync must carry it out
        want = {mailgen.message_id(m) for m in keep}
        peers.wait_until(lambda: state() == (want, want), 30, 0.3,
                         "the accepted deletion to reach the upstream")
    else:
        # "nothing was deleted": everything is still there, on both sides
        want = {mailgen.message_id(m) for m in msgs}
        assert state() == (want, want), state()


@test
def stalled_upstream_never_stalls_the_client(env):
    # Dovecot frozen with SIGSTOP: connections are accepted and never
    # answered. A login waits at most login_wait, shows what popgate holds,
    # and once Dovecot thaws, syncing goes on.
    pg = env.add(peers.Popgate(env.dir, name="popgate-stall", interval=1, login_wait=2,
                               timeout=3))
    pg.user_add("stall", PW)
    pg.account_add("main", "stall", "localhost", env.dovecot.port_tls, STALL, UP_PW,
                   "implicit", env.ca.cert)
    pg.start()
    first = mailgen.message("before the freeze", tag="stall")
    env.dovecot.add_message(STALL, first)
    clients.wait_count(pg.port_tls, "stall", PW, 1, pg.ssl_context())
    later = mailgen.message("during the freeze", tag="stall")
    env.dovecot.add_message(STALL, later)
    env.dovecot.pause()
    try:
        for _ in range(3):
            t0 = time.monotonic()
            got = clients.poplib_download(pg.port_tls, "stall", PW, "implicit", pg.ssl_context())
            took = time.monotonic() - t0
            assert took < 2 + 4, f"login took {took:.1f} s with login_wait = 2"
            assert same(got, [first], "while frozen")
    finally:
        env.dovecot.resume()
    clients.wait_count(pg.port_tls, "stall", PW, 2, pg.ssl_context(), timeout=30)
    assert same(clients.poplib_download(pg.port_tls, "stall", PW, "implicit", pg.ssl_context()),
                [first, later], "after the thaw")


@test
def timer_syncs_without_any_login(env):
    # login_wait = 0: a login shows what is already there and does not wait,
    # so a message appears only because the interval timer fetched it.
    pg = env.add(peers.Popgate(env.dir, name="popgate-timer", interval=1, login_wait=0))
    pg.user_add("timer", PW)
    pg.account_add("main", "timer", "localhost", env.dovecot.port_tls, TIMER, UP_PW,
                   "implicit", env.ca.cert)
    pg.start()
    m = mailgen.message("fetched by the timer", tag="timer")
    env.dovecot.add_message(TIMER, m)
    # no session at all until Dovecot shows the message was taken (cur/)
    cur = os.path.join(env.dovecot.maildir(TIMER), "cur")
    peers.wait_until(lambda: os.listdir(cur), 15, 0.05, "the timer's sync to open the mailbox")
    clients.wait_count(pg.port_tls, "timer", PW, 1, pg.ssl_context(), timeout=15)
    assert same(clients.poplib_download(pg.port_tls, "timer", PW, "implicit", pg.ssl_context()),
                [m], "timer")


@test
def sigterm_with_a_client_logged_in(env):
    # The timer instance is idle; a logged-in client must not hold up a
    # SIGTERM, and is told (or simply disconnected) rather than left hanging.
    pg = next(p for p in env.popgates() if p.name == "popgate-timer")
    r = clients.Raw(pg.port_tls, tls=True)
    r.cmd("USER timer")
    assert r.cmd(f"PASS {PW}").startswith(b"+OK")
    t0 = time.monotonic()
    pg.proc.send_signal(signal.SIGTERM)
    rc = pg.proc.wait(timeout=15)
    took = time.monotonic() - t0
    assert rc == 0, f"exit status {rc} on SIGTERM"
    assert took < 10, f"took {took:.1f} s to stop with a client logged in"
    last = r.line()
    assert last == b"" or last.startswith(b"-ERR"), last
    assert r.closed(5)
    pg.proc = None
    assert not pg.sanitizer_reports(), pg.sanitizer_reports()[:5]


@test
def clean_shutdown_without_sanitizer_reports(env):
    for p in env.popgates():
        p.assert_clean_stop()


if __name__ == "__main__":
    peers.main(setup)
