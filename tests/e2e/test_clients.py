"""Real mail clients download through popgate from a real Dovecot upstream
(one account over implicit TLS, one over STLS, both verified with a custom
CA) and get every message byte-identical to what is upstream, apart from
header lines named X-Popgate-*."""
import os
import ssl

import clients
import mailgen
import peers
from peers import test

WORK, HOME = "alice@pop.test", "alice-home@pop.test"
ODD = "olga@pop.test"
UP_PW = "upstream-secret"
LOCAL_PW = "alice local pw"


def setup(env):
    env.ca = peers.CA(env.dir)
    cert, key = env.ca.issue()
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key, {WORK: UP_PW, HOME: UP_PW, ODD: UP_PW}))
    env.work = mailgen.nasty()
    env.home = [mailgen.message("Home one", tag="home"), mailgen.dots(), mailgen.eight_bit()]
    for m in env.work:
        env.dovecot.add_message(WORK, m)
    for m in env.home:
        env.dovecot.add_message(HOME, m)
    pg = env.add(peers.Popgate(env.dir))
    env.pg = pg
    pg.user_add("alice", LOCAL_PW)
    pg.account_add("work", "alice", "localhost", env.dovecot.port_tls, WORK, UP_PW,
                   tls="implicit", ca_file=env.ca.cert)
    pg.account_add("home", "alice", "localhost", env.dovecot.port_plain, HOME, UP_PW,
                   tls="starttls", ca_file=env.ca.cert)
    env.odd = [mailgen.bare_lf(), mailgen.message("crlf", tag="odd")]
    for m in env.odd:
        env.dovecot.add_message(ODD, m)
    pg.user_add("olga", LOCAL_PW)
    pg.account_add("odd", "olga", "localhost", env.dovecot.port_tls, ODD, UP_PW,
                   tls="implicit", ca_file=env.ca.cert)
    pg.start()
    # What Dovecot itself serves, UIDLs included: the reference.
    env.direct = {acct: clients.poplib_download(env.dovecot.port_tls, login, UP_PW, "implicit",
                                                env.dovecot.ssl_context(env.ca.cert),
                                                host="localhost")
                  for acct, login in (("work", WORK), ("home", HOME))}


def wire(msgs):
    return [mailgen.wire_form(m) for m in msgs]


@test
def poplib_implicit_tls_alice_work(env):
    clients.wait_count(env.pg.port_tls, "alice/work", LOCAL_PW, len(env.work),
                       env.pg.ssl_context())
    got = clients.poplib_download(env.pg.port_tls, "alice/work", LOCAL_PW, "implicit",
                                  env.pg.ssl_context())
    mailgen.assert_same([d for _, d in got], wire(env.work), "poplib POP3S")
    # The client sees the upstream UIDLs, so leave-on-server keeps working.
    want = {mailgen.message_id(d): u for u, d in env.direct["work"]}
    for u, d in got:
        assert u == want[mailgen.message_id(d)], (u, want[mailgen.message_id(d)])


@test
def popgate_prepends_only_x_popgate_headers(env):
    got = clients.poplib_download(env.pg.port_tls, "alice/work", LOCAL_PW, "implicit",
                                  env.pg.ssl_context())
    src = {mailgen.message_id(m): mailgen.wire_form(m) for m in env.work}
    for _, d in got:
        s = src[mailgen.message_id(d)]
        assert d.endswith(s), (mailgen.message_id(d), d[:300])
        prefix = d[:len(d) - len(s)]
        for line in prefix.split(b"\r\n")[:-1]:
            assert line.lower().startswith(b"x-popgate-") or line[:1] in (b" ", b"\t"), \
                (mailgen.message_id(d), line)
        assert prefix == b"" or prefix.endswith(b"\r\n"), prefix


@test
def clients_on_tls12_and_tls13_are_served(env):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        c = env.pg.ssl_context()
        c.minimum_version = c.maximum_version = version
        for port, mode in ((env.pg.port_tls, "implicit"), (env.pg.port, "stls")):
            p = clients.pop_connect(port, mode, c)
            got = p.sock.version()
            clients.pop_login(p, "alice/home", LOCAL_PW)
            assert p.stat()[0] == len(env.home)
            p.quit()
            assert got == version.name.replace("v1_", "v1."), (got, version)


@test
def poplib_stls_auth_plain_alice_home(env):
    clients.wait_count(env.pg.port_tls, "alice/home", LOCAL_PW, len(env.home),
                       env.pg.ssl_context())
    got = clients.poplib_download(env.pg.port, "alice/home", LOCAL_PW, "stls",
                                  env.pg.ssl_context(), auth="plain")
    mailgen.assert_same([d for _, d in got], wire(env.home), "poplib STLS + AUTH PLAIN")


@test
def poplib_plaintext_on_loopback(env):
    got = clients.poplib_download(env.pg.port, "alice/home", LOCAL_PW, "plain")
    mailgen.assert_same([d for _, d in got], wire(env.home), "poplib plain on loopback")


@test
def list_sizes_match_retr(env):
    p = clients.pop_connect(env.pg.port_tls, "implicit", env.pg.ssl_context())
    clients.pop_login(p, "alice/work", LOCAL_PW)
    count, total = p.stat()
    _, lines, _ = p.list()
    sizes = {int(l.split()[0]): int(l.split()[1]) for l in lines}
    assert len(sizes) == count and sum(sizes.values()) == total, (count, total, sizes)
    for n, size in sizes.items():
        data = clients.retr(p, n)
        # The size is the message as sent; a message without a final CRLF
        # may count the CRLF that ends it on the wire or not.
        assert size in (len(data), len(data) - 2), (n, size, len(data))
    p.quit()


@test
def top_is_dot_stuffed_like_dovecot(env):
    ctx = env.dovecot.ssl_context(env.ca.cert)
    up = clients.pop_connect(env.dovecot.port_tls, "implicit", ctx, "localhost")
    clients.pop_login(up, WORK, UP_PW)
    up_ids = {u: n for n, u in clients.uidls(up).items()}
    p = clients.pop_connect(env.pg.port_tls, "implicit", env.pg.ssl_context())
    clients.pop_login(p, "alice/work", LOCAL_PW)
    for n, u in clients.uidls(p).items():
        for lines in (0, 1, 3, 100000):
            _, mine, _ = p.top(n, lines)
            _, theirs, _ = up.top(up_ids[u], lines)
            mine = mailgen.strip_popgate_headers(b"\r\n".join(mine) + b"\r\n")
            theirs = b"\r\n".join(theirs) + b"\r\n"
            assert mine == theirs, (u, lines, mine[-200:], theirs[-200:])
    p.quit()
    up.quit()


@test
def curl_pop3s(env):
    got = clients.curl_download("pop3s", env.pg.port_tls, "alice/work", LOCAL_PW, ["-k"])
    mailgen.assert_same(got, wire(env.work), "curl pop3s")


@test
def curl_verifies_popgates_own_certificate(env):
    # The certificate popgate made for itself names localhost, so a client
    # that pins it (instead of -k) connects by name.
    got = clients.curl_download("pop3s", env.pg.port_tls, "alice/home", LOCAL_PW,
                                ["--cacert", env.pg.cert_file], host="localhost")
    mailgen.assert_same(got, wire(env.home), "curl pop3s --cacert")


@test
def curl_stls_ssl_reqd(env):
    got = clients.curl_download("pop3", env.pg.port, "alice/home", LOCAL_PW,
                                ["--ssl-reqd", "-k"])
    mailgen.assert_same(got, wire(env.home), "curl pop3 --ssl-reqd")


@test
def curl_sasl_login(env):
    # AUTH=LOGIN makes curl use SASL LOGIN rather than its default PLAIN.
    got = clients.curl_download("pop3s", env.pg.port_tls, "alice/work", LOCAL_PW,
                                ["-k", "--login-options", "AUTH=LOGIN"])
    mailgen.assert_same(got, wire(env.work), "curl pop3s SASL LOGIN")


@test
def fetchmail_sslcertck(env):
    direct = clients.fetchmail_download(os.path.join(env.dir, "fm-direct"),
                                        env.dovecot.port_tls, WORK, UP_PW, env.ca.cert)
    got = clients.fetchmail_download(os.path.join(env.dir, "fm-popgate"), env.pg.port_tls,
                                     "alice/work", LOCAL_PW, env.pg.cert_file)
    assert len(direct) == len(env.work)
    assert len(got) == len(env.work), f"fetchmail got {len(got)} messages through popgate"
    # fetchmail itself garbles lines longer than its 8 kB buffer (it does so
    # straight from Dovecot too, with different garbage each run), so the
    # long-line message is compared by the other clients only.
    def fits(m):
        return all(len(line) < 8192 for line in m.split(b"\n"))
    mailgen.assert_same([m for m in got if fits(m)], [m for m in direct if fits(m)], "fetchmail")


@test
def getmail6_maildir(env):
    direct = clients.getmail_download(os.path.join(env.dir, "gm-direct"),
                                      env.dovecot.port_tls, WORK, UP_PW, env.ca.cert)
    got = clients.getmail_download(os.path.join(env.dir, "gm-popgate"), env.pg.port_tls,
                                   "alice/work", LOCAL_PW, env.pg.cert_file)
    assert len(direct) == len(env.work)
    mailgen.assert_same(got, direct, "getmail6")


@test
def aggregated_view_prefixes_uidls(env):
    total = len(env.work) + len(env.home)
    clients.wait_count(env.pg.port_tls, "alice", LOCAL_PW, total, env.pg.ssl_context())
    got = clients.poplib_download(env.pg.port_tls, "alice", LOCAL_PW, "implicit",
                                  env.pg.ssl_context())
    mailgen.assert_same([d for _, d in got], wire(env.work + env.home), "aggregated")
    want = {f"{acct}:{u}" for acct in ("work", "home") for u, _ in env.direct[acct]}
    assert {u for u, _ in got} == want, sorted(u for u, _ in got)
    # And each UIDL names the account the message came from.
    by_id = {mailgen.message_id(d): f"{acct}:{u}"
             for acct in ("work", "home") for u, d in env.direct[acct]}
    for u, d in got:
        assert by_id[mailgen.message_id(d)] == u, (u, by_id[mailgen.message_id(d)])


@test
def bare_lf_message_served_as_dovecot_serves_it(env):
    clients.wait_count(env.pg.port_tls, "olga/odd", LOCAL_PW, len(env.odd), env.pg.ssl_context())
    got = clients.poplib_download(env.pg.port_tls, "olga/odd", LOCAL_PW, "implicit",
                                  env.pg.ssl_context())
    direct = clients.poplib_download(env.dovecot.port_tls, ODD, UP_PW, "implicit",
                                     env.dovecot.ssl_context(env.ca.cert), host="localhost")
    mailgen.assert_same([d for _, d in got], [d for _, d in direct], "bare LF")
    assert sorted(u for u, _ in got) == sorted(u for u, _ in direct)


@test
def nothing_was_deleted_upstream(env):
    env.dovecot.assert_holds(WORK, env.work)
    env.dovecot.assert_holds(HOME, env.home)


@test
def clean_shutdown_without_sanitizer_reports(env):
    for p in env.popgates():
        p.assert_clean_stop()


if __name__ == "__main__":
    peers.main(setup)
