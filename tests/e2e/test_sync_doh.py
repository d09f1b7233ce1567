"""An end-to-end sync whose upstream host name exists only in the DoH test
zone: popgate finds Dovecot at upstream.mail.test through unbound over
DNS-over-HTTPS, verifies its certificate for that name, and serves the mail."""
import clients
import dohpeers
import mailgen
import peers
from peers import test

LOGIN, UP_PW, PW = "dana@pop.test", "up-secret", "dana local pw"
HOST = "upstream.mail.test"


def setup(env):
    ca = peers.CA(env.dir)
    cert, key = ca.issue(sans=[f"DNS:{HOST}"])
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key, {LOGIN: UP_PW}))
    env.msgs = [mailgen.message("Found through DoH", tag="doh1"), mailgen.dots()]
    for m in env.msgs:
        env.dovecot.add_message(LOGIN, m)
    dcert, dkey = dohpeers.make_cert(env.dir)
    env.unbound = dohpeers.Unbound(env.dir, dcert, dkey)
    env.add(env.unbound)
    env.pg = env.add(peers.Popgate(env.dir, extra={"dns": {
        "mode": "doh", "doh_url": env.unbound.url(), "bootstrap": env.unbound.bootstrap(),
        "ca_file": dcert, "timeout_ms": "3000"}}))
    env.pg.user_add("dana", PW)
    env.pg.account_add("mail", "dana", HOST, env.dovecot.port_tls, LOGIN, UP_PW, ca_file=ca.cert)
    env.pg.start()


@test
def mail_arrives_from_a_host_known_only_to_doh(env):

    clients.wait_count(env.pg.port_tls, "dana/mail", PW, len(env.msgs), env.pg.ssl_context())
    got = clients.poplib_download(env.pg.port_tls, "dana/mail", PW, "implicit", env.pg.ssl_context())
    mailgen.assert_same([d for _, d in got], [mailgen.wire_form(m) for m in env.msgs], "via DoH")


@test
def the_name_was_asked_over_doh(env):
    asked = env.unbound.queries(HOST)
    assert asked > 0, f"unbound never saw a query for {HOST} ({env.unbound.queries()} queries in all)"


if __name__ == "__main__":
    peers.main(setup)
