"""popgate's POP3 server as a client sees it, with a real Dovecot upstream:
honest CAPA, PIPELINING, login and account selection, wrong passwords and
malformed input answered with -ERR without harm, the bad-command limit, and
DELE/RSET/QUIT semantics checked in Dovecot's maildir."""
import base64
import ssl
import time

import clients
import mailgen
import peers
from peers import test

WORK, HOME = "alice@pop.test", "alice-home@pop.test"
# bob has one account per DELE/RSET scenario, each its own upstream mailbox
BOB = {k: f"bob-{k}@pop.test" for k in ("dele", "rset", "drop")}
UP_PW = "upstream-secret"
ALICE_PW, BOB_PW = "alice local pw", "bob-pw"
IDLE = 10               # the smallest idle_timeout popgate accepts
MAX_SESSIONS = 6


def setup(env):
    env.ca = peers.CA(env.dir)
    cert, key = env.ca.issue()
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key,
                                          dict({WORK: UP_PW, HOME: UP_PW},
                                               **{u: UP_PW for u in BOB.values()})))
    env.work = [mailgen.message(f"work {i}", tag="work") for i in range(3)] + [mailgen.dots()]
    env.home = [mailgen.message(f"home {i}", tag="home") for i in range(2)]
    for m in env.work:
        env.dovecot.add_message(WORK, m)
    for m in env.home:
        env.dovecot.add_message(HOME, m)
    pg = env.pg = env.add(peers.Popgate(env.dir, extra={
        "pop3": {"idle_timeout": str(IDLE), "max_sessions": str(MAX_SESSIONS)}}))
    pg.user_add("alice", ALICE_PW)
    pg.user_add("bob", BOB_PW)
    pg.account_add("work", "alice", "localhost", env.dovecot.port_tls, WORK, UP_PW,
                   tls="implicit", ca_file=env.ca.cert)
    pg.account_add("home", "alice", "localhost", env.dovecot.port_plain, HOME, UP_PW,
                   tls="starttls", ca_file=env.ca.cert)
    for acct, login_ in BOB.items():
        pg.account_add(acct, "bob", "localhost", env.dovecot.port_tls, login_, UP_PW,
                       tls="implicit", ca_file=env.ca.cert)
    pg.start()


def raw(env, tls=True):
    r = clients.Raw(env.pg.port_tls if tls else env.pg.port, tls=tls)
    assert r.greeting.startswith(b"+OK"), r.greeting
    return r


def login(env, user="alice/work", pw=ALICE_PW, tls=True):
    r = raw(env, tls)
    assert r.cmd(f"USER {user}").startswith(b"+OK")
    reply = r.cmd(f"PASS {pw}")
    assert reply.startswith(b"+OK"), reply
    return r


def capa(r):
    reply = r.cmd("CAPA")
    assert reply.startswith(b"+OK"), reply
    return [l.decode() for l in r.multi()]


def assert_capa_core(caps, where):
    names = [c.split()[0].upper() for c in caps]
    for want in ("USER", "PIPELINING", "RESP-CODES", "UIDL", "TOP"):
        assert want in names, f"{where}: CAPA lacks {want}: {caps}"
    sasl = [c.upper().split()[1:] for c in caps if c.upper().startswith("SASL")]
    assert sasl and "PLAIN" in sasl[0], f"{where}: CAPA lacks SASL PLAIN: {caps}"


def bob_session(env, acct):
    return login(env, f"bob/{acct}", BOB_PW)


def numbered(r):
    """{number: raw message} of the session's maildrop."""
    assert r.cmd("UIDL").startswith(b"+OK")
    nums = [int(l.split()[0]) for l in r.multi()]
    out = {}
    for n in nums:
        reply = r.cmd(f"RETR {n}")
        assert reply.startswith(b"+OK"), reply
        out[n] = mailgen.strip_popgate_headers(b"\r\n".join(r.multi()) + b"\r\n")
    return out


# ------------------------------------------------------------------- CAPA

@test
def capa_on_plain_port_offers_stls(env):
    r = raw(env, tls=False)
    caps = capa(r)
    assert_capa_core(caps, "plain port")
    assert "STLS" in [c.upper() for c in caps], caps
    r.cmd("QUIT")


@test
def capa_after_stls_drops_stls(env):
    r = raw(env, tls=False)
    assert r.stls().startswith(b"+OK")
    caps = capa(r)
    assert_capa_core(caps, "after STLS")
    assert "STLS" not in [c.upper() for c in caps], caps
    reply = r.cmd("STLS")
    assert reply.startswith(b"-ERR"), reply
    # the session still works after the refused second STLS
    assert r.cmd("USER alice/work").startswith(b"+OK")
    assert r.cmd(f"PASS {ALICE_PW}").startswith(b"+OK")
    assert r.cmd("QUIT").startswith(b"+OK")


@test
def capa_on_implicit_tls_port_has_no_stls(env):
    r = raw(env)
    caps = capa(r)
    assert_capa_core(caps, "implicit TLS")
    assert "STLS" not in [c.upper() for c in caps], caps
    r.cmd("QUIT")


@test
def capa_after_login(env):
    r = login(env)
    caps = capa(r)
    names = [c.split()[0].upper() for c in caps]
    for want in ("PIPELINING", "RESP-CODES", "UIDL", "TOP"):
        assert want in names, caps
    r.cmd("QUIT")


# ------------------------------------------------------------------ login

@test
def wrong_password_gets_auth_code(env):
    r = raw(env)
    assert r.cmd("USER alice/work").startswith(b"+OK")
    reply = r.cmd("PASS not-the-password")
    assert reply.startswith(b"-ERR [AUTH]"), reply
    # the upstream password is not alice's local password either
    r2 = raw(env)
    r2.cmd("USER alice")
    reply = r2.cmd(f"PASS {UP_PW}")
    assert reply.startswith(b"-ERR [AUTH]"), reply
    r2.close()
    # then the right one works (on a new connection, whatever the server
    # did with the old one)
    r.close()
    r = login(env)
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd("QUIT")


@test
def unknown_user_and_unknown_account_get_auth_code(env):
    for user in ("mallory", "alice/nosuch", "bob/work"):
        r = raw(env)
        r.cmd(f"USER {user}")
        reply = r.cmd(f"PASS {ALICE_PW}")
        assert reply.startswith(b"-ERR"), (user, reply)
        assert b"[AUTH]" in reply, (user, reply)
        r.close()


@test
def auth_plain_right_and_wrong(env):
    def plain(u, p):
        return base64.b64encode(f"\0{u}\0{p}".encode()).decode()
    r = raw(env)
    reply = r.cmd("AUTH PLAIN " + plain("alice/work", "nope"))
    assert reply.startswith(b"-ERR [AUTH]"), reply
    r.close()
    r = raw(env)
    reply = r.cmd("AUTH PLAIN " + plain("alice/work", ALICE_PW))
    assert reply.startswith(b"+OK"), reply
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd("QUIT")
    # the continuation form: AUTH PLAIN, "+ ", then the response
    r = raw(env)
    reply = r.cmd("AUTH PLAIN")
    assert reply.startswith(b"+"), reply
    reply = r.cmd(plain("alice/work", ALICE_PW))
    assert reply.startswith(b"+OK"), reply
    r.cmd("QUIT")
    # an authorization identity equal to the user is fine
    r = raw(env)
    tok = base64.b64encode(f"alice/work\0alice/work\0{ALICE_PW}".encode()).decode()
    reply = r.cmd("AUTH PLAIN " + tok)
    assert reply.startswith(b"+OK"), reply
    r.cmd("QUIT")
    # "*" cancels the exchange (RFC 5034), and the session goes on
    r = raw(env)
    assert r.cmd("AUTH PLAIN").startswith(b"+")
    reply = r.cmd("*")
    assert reply.startswith(b"-ERR"), reply
    assert r.cmd("USER alice/work").startswith(b"+OK")
    assert r.cmd(f"PASS {ALICE_PW}").startswith(b"+OK")
    r.cmd("QUIT")


@test
def user_slash_account_selects_one_account(env):
    clients.wait_count(env.pg.port_tls, "alice/work", ALICE_PW, len(env.work),
                       env.pg.ssl_context())
    clients.wait_count(env.pg.port_tls, "alice/home", ALICE_PW, len(env.home),
                       env.pg.ssl_context())
    r = login(env, "alice/home")
    got = numbered(r)
    mailgen.assert_same(list(got.values()), [mailgen.wire_form(m) for m in env.home], "alice/home")
    r.cmd("QUIT")


@test
def two_accounts_aggregated_under_user(env):
    total = len(env.work) + len(env.home)
    clients.wait_count(env.pg.port_tls, "alice", ALICE_PW, total, env.pg.ssl_context())
    r = login(env, "alice")
    assert r.cmd("UIDL").startswith(b"+OK")
    ids = [l.split()[1].decode() for l in r.multi()]
    prefixes = sorted(u.split(":", 1)[0] for u in ids)
    assert prefixes == ["home"] * len(env.home) + ["work"] * len(env.work), ids
    got = numbered(r)
    mailgen.assert_same(list(got.values()), [mailgen.wire_form(m) for m in env.work + env.home],
                        "alice")
    r.cmd("QUIT")


@test
def single_message_forms_match_listings(env):
    r = login(env)
    assert r.cmd("LIST").startswith(b"+OK")
    sizes = dict(l.decode().split() for l in r.multi())
    assert r.cmd("UIDL").startswith(b"+OK")
    uidls = dict(l.decode().split() for l in r.multi())
    assert sizes.keys() == uidls.keys() and len(sizes) == len(env.work)
    for n in sizes:
        assert r.cmd(f"LIST {n}").decode().split()[1:] == [n, sizes[n]]
        assert r.cmd(f"UIDL {n}").decode().split()[1:] == [n, uidls[n]]
    # a deleted message is gone from every listing, and DELE twice fails
    assert r.cmd("DELE 1").startswith(b"+OK")
    assert r.cmd("DELE 1").startswith(b"-ERR")
    assert r.cmd("LIST 1").startswith(b"-ERR")
    assert r.cmd("UIDL 1").startswith(b"-ERR")
    assert r.cmd("TOP 1 0").startswith(b"-ERR")
    assert r.cmd("LIST").startswith(b"+OK")
    assert "1" not in dict(l.decode().split() for l in r.multi())
    assert r.cmd("RSET").startswith(b"+OK")
    assert r.cmd("LIST 1").startswith(b"+OK")
    assert r.cmd("QUIT").startswith(b"+OK")
    env.dovecot.assert_holds(WORK, env.work)


@test
def commands_before_login_are_refused(env):
    r = raw(env)
    for c in ("STAT", "LIST", "UIDL", "RETR 1", "DELE 1", "TOP 1 0", "RSET"):
        reply = r.cmd(c)
        assert reply.startswith(b"-ERR"), (c, reply)
    assert r.cmd("NOOP").startswith((b"+OK", b"-ERR"))
    assert r.cmd("CAPA").startswith(b"+OK")
    r.multi()
    r.cmd("QUIT")


# -------------------------------------------------------- bad input

@test
def malformed_commands_get_err_and_session_goes_on(env):
    bad = ["RETR", "RETR abc", "RETR 0", "RETR {past}", "RETR 99999999999999999999",
           "RETR -1", "LIST x", "LIST 1 2", "DELE", "DELE 0", "TOP 1", "TOP 1 x", "TOP x 1",
           "UIDL 0", "FOO", "retr 1 2", "USER again", "PASS again", "STLS", "AUTH PLAIN x"]
    # a few per session, so that the bad-command limit is not what is tested
    for i in range(0, len(bad), 3):
        r = login(env)
        count = int(r.cmd("STAT").split()[1])
        for c in bad[i:i + 3]:
            c = c.format(past=count + 1)
            reply = r.cmd(c)
            assert reply.startswith(b"-ERR"), (c, reply)
        reply = r.cmd("NOOP")
        assert reply.startswith(b"+OK"), (bad[i:i + 3], reply)
        assert r.cmd("STAT").split()[1] == str(count).encode()
        reply = r.cmd("retr 1")           # commands are case-insensitive
        assert reply.startswith(b"+OK"), reply
        r.multi()
        assert r.cmd("QUIT").startswith(b"+OK")


@test
def control_bytes_and_bare_lf(env):
    r = login(env)
    r.send(b"NO\x00OP\r\n")
    assert r.line().startswith(b"-ERR")
    r.send(b"NOOP\n")                 # a bare LF ends a line for lenient servers
    reply = r.line()
    assert reply.startswith((b"+OK", b"-ERR")), reply
    r.send(b"\xff\xfe\xfd\r\n")
    assert r.line().startswith(b"-ERR")
    assert r.cmd("NOOP").startswith(b"+OK")
    r.cmd("QUIT")


@test
def too_long_line_gets_err_and_daemon_survives(env):
    r = login(env)
    r.send(b"NOOP " + b"x" * 100000 + b"\r\n")
    reply = r.line()
    assert reply.startswith(b"-ERR"), reply[:100]
    # the session may go on or be closed; the daemon must go on
    r.close()
    r = login(env)
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd("QUIT")
    # same before login, and a line that never ends
    r = raw(env)
    r.send(b"USER " + b"a" * 100000)
    r.send(b"\r\n")
    assert r.line().startswith(b"-ERR")
    r.close()
    assert env.pg.running()


@test
def too_many_bad_commands_disconnect(env):
    r = raw(env)
    r.send(b"".join(b"BOGUS%d\r\n" % i for i in range(100)))
    replies = 0
    while True:
        line = r.line()
        if not line:
            break
        assert line.startswith(b"-ERR"), line
        replies += 1
    assert replies < 100, "still talking after 100 bad commands"
    assert r.eof
    r = login(env)      # and others are served
    r.cmd("QUIT")


@test
def idle_client_is_dropped_after_idle_timeout(env):
    r = login(env)
    time.sleep(0.5)
    assert r.cmd("NOOP").startswith(b"+OK")
    t0 = time.monotonic()
    assert r.closed(timeout=IDLE + 10), f"still connected after {IDLE + 10} s idle"
    took = time.monotonic() - t0
    assert IDLE - 1 <= took <= IDLE + 5, f"closed after {took:.1f} s, idle_timeout is {IDLE}"


@test
def second_session_on_same_account_is_in_use(env):
    r = login(env, "alice/work")
    r2 = raw(env)
    r2.cmd("USER alice/work")
    reply = r2.cmd(f"PASS {ALICE_PW}")
    assert reply.startswith(b"-ERR [IN-USE]"), reply
    r2.close()
    # the aggregated view holds the same account
    r2 = raw(env)
    r2.cmd("USER alice")
    reply = r2.cmd(f"PASS {ALICE_PW}")
    assert reply.startswith(b"-ERR [IN-USE]"), reply
    r2.close()
    assert r.cmd("QUIT").startswith(b"+OK")
    # QUIT releases it
    r = peers.wait_until(lambda: _try_login(env, "alice/work"), 5, 0.05, "release on QUIT")
    r.cmd("QUIT")


def _try_login(env, user):
    try:
        r = clients.Raw(env.pg.port_tls, tls=True)
    except (ssl.SSLError, OSError):
        return None     # refused while the server is still full
    if r.greeting.startswith(b"+OK"):
        r.cmd(f"USER {user}")
        if r.cmd(f"PASS {ALICE_PW}").startswith(b"+OK"):
            return r
    r.close()
    return None


@test
def max_sessions_is_enforced(env):
    conns, refused = [], None
    try:
        for _ in range(MAX_SESSIONS + 3):
            r = clients.Raw(env.pg.port, tls=False)
            if r.greeting.startswith(b"+OK"):
                conns.append(r)
            else:
                refused = r.greeting
                break
        assert refused is not None, f"{len(conns)} sessions accepted, max_sessions is {MAX_SESSIONS}"
        assert len(conns) <= MAX_SESSIONS, len(conns)
        assert refused.startswith(b"-ERR [SYS/TEMP]"), refused
    finally:
        for r in conns:
            r.close()
    # and once they are gone, clients are served again
    r = peers.wait_until(lambda: _try_login(env, "alice/work"), 10, 0.05, "a free session")
    r.cmd("QUIT")


# -------------------------------------------------------------- PIPELINING

@test
def pipelining_in_one_write(env):
    clients.wait_count(env.pg.port_tls, "alice/work", ALICE_PW, len(env.work),
                       env.pg.ssl_context())
    r = raw(env)
    n = len(env.work)
    r.send(f"USER alice/work\r\nPASS {ALICE_PW}\r\nSTAT\r\nLIST\r\nUIDL\r\n" +
           "".join(f"RETR {i}\r\nTOP {i} 0\r\n" for i in range(1, n + 1)) +
           "NOOP\r\nQUIT\r\n")
    assert r.line().startswith(b"+OK")              # USER
    assert r.line().startswith(b"+OK")              # PASS
    st = r.line()
    assert st.startswith(b"+OK") and int(st.split()[1]) == n, st
    assert r.line().startswith(b"+OK")
    assert len(r.multi()) == n                      # LIST
    assert r.line().startswith(b"+OK")
    assert len(r.multi()) == n                      # UIDL
    got = []
    for i in range(n):
        assert r.line().startswith(b"+OK")
        got.append(mailgen.strip_popgate_headers(b"\r\n".join(r.multi()) + b"\r\n"))
        assert r.line().startswith(b"+OK")
        r.multi()
    mailgen.assert_same(got, [mailgen.wire_form(m) for m in env.work], "pipelined RETR")
    assert r.line().startswith(b"+OK")              # NOOP
    assert r.line().startswith(b"+OK")              # QUIT
    assert r.closed()


@test
def pipelining_on_plain_port_before_stls_is_not_carried_over(env):
    # Commands sent right behind STLS in the same write must not be run
    # inside the TLS session (RFC 2595 section 4 / CVE-2011-0411 class).
    r = raw(env, tls=False)
    r.send("STLS\r\nUSER alice/work\r\n")
    reply = r.line()
    assert reply.startswith(b"+OK"), reply
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        r.sock = ctx.wrap_socket(r.sock, server_hostname="127.0.0.1")
    except (ssl.SSLError, OSError):
        return      # refusing the injected bytes outright is fine too
    reply = r.cmd(f"PASS {ALICE_PW}")
    assert reply.startswith(b"-ERR"), "USER sent before TLS was honoured inside TLS"
    r.close()


# ------------------------------------------------------- DELE, RSET, QUIT

def bob_messages(env, acct, n):
    msgs = [mailgen.message(f"{acct} {i}", tag=acct) for i in range(n)]
    for m in msgs:
        env.dovecot.add_message(BOB[acct], m)
    clients.wait_count(env.pg.port_tls, f"bob/{acct}", BOB_PW, n, env.pg.ssl_context())
    return msgs


@test
def dele_then_quit_deletes_upstream(env):
    msgs = bob_messages(env, "dele", 4)
    r = bob_session(env, "dele")
    got = numbered(r)
    want = {mailgen.message_id(msgs[0]), mailgen.message_id(msgs[2])}
    victims = [n for n, d in got.items() if mailgen.message_id(d) in want]
    assert len(victims) == 2, [mailgen.message_id(d) for d in got.values()]
    for n in victims:
        assert r.cmd(f"DELE {n}").startswith(b"+OK")
    # a deleted message is gone from the session at once
    assert r.cmd(f"RETR {victims[0]}").startswith(b"-ERR")
    assert int(r.cmd("STAT").split()[1]) == 2
    reply = r.cmd("QUIT")
    assert reply.startswith(b"+OK"), reply
    left = env.dovecot.upstream(BOB["dele"])
    if sorted(left) != sorted([msgs[1], msgs[3]]):
        late = ""
        try:
            peers.wait_until(lambda: sorted(env.dovecot.upstream(BOB["dele"])) ==
                             sorted([msgs[1], msgs[3]]), 15, 0.1)
            late = " (they were deleted later, after QUIT had answered)"
        except TimeoutError:
            late = " (and not within 15 s after either)"
        raise AssertionError(f"upstream holds {len(left)} messages right after QUIT, "
                             f"want 2{late}")
    # and a new session no longer shows them
    r = bob_session(env, "dele")
    assert int(r.cmd("STAT").split()[1]) == 2
    r.cmd("QUIT")


@test
def rset_deletes_nothing(env):
    msgs = bob_messages(env, "rset", 3)
    r = bob_session(env, "rset")
    for n in (1, 2, 3):
        assert r.cmd(f"DELE {n}").startswith(b"+OK")
    assert int(r.cmd("STAT").split()[1]) == 0
    assert r.cmd("RSET").startswith(b"+OK")
    assert int(r.cmd("STAT").split()[1]) == 3
    assert r.cmd("QUIT").startswith(b"+OK")
    env.dovecot.assert_holds(BOB["rset"], msgs)
    clients.wait_count(env.pg.port_tls, "bob/rset", BOB_PW, 3, env.pg.ssl_context(), timeout=5)


@test
def dropped_connection_deletes_nothing(env):
    msgs = bob_messages(env, "drop", 3)
    r = bob_session(env, "drop")
    for n in (1, 2):
        assert r.cmd(f"DELE {n}").startswith(b"+OK")
    r.close()       # no QUIT: the UPDATE state is never entered
    # a new session (which syncs) still sees all three, and so does Dovecot
    clients.wait_count(env.pg.port_tls, "bob/drop", BOB_PW, 3, env.pg.ssl_context(), timeout=5)
    env.dovecot.assert_holds(BOB["drop"], msgs)


@test
def dele_in_aggregated_view_deletes_in_right_account(env):
    extra = mailgen.message("aggregated delete", tag="aggdel")
    env.dovecot.add_message(HOME, extra)
    total = len(env.work) + len(env.home) + 1
    clients.wait_count(env.pg.port_tls, "alice", ALICE_PW, total, env.pg.ssl_context())
    r = login(env, "alice")
    got = numbered(r)
    n = next(n for n, d in got.items()
             if mailgen.message_id(d) == mailgen.message_id(extra))
    assert r.cmd(f"DELE {n}").startswith(b"+OK")
    assert r.cmd("QUIT").startswith(b"+OK")
    peers.wait_until(lambda: extra not in env.dovecot.upstream(HOME), 15, 0.1,
                     "deletion upstream")
    env.dovecot.assert_holds(HOME, env.home)
    env.dovecot.assert_holds(WORK, env.work)


@test
def clean_shutdown_without_sanitizer_reports(env):
    for p in env.popgates():
        p.assert_clean_stop()


if __name__ == "__main__":
    peers.main(setup)
