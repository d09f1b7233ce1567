"""The quarantine end to end, through a real POP3 client (Python's poplib)
against popgate syncing from Dovecot: spam is hidden from the client,
"popgate quarantine release" makes it appear with the same UIDL as
upstream (and trains it as ham), "confirm" trains it as spam and leaves it
hidden, and nothing is deleted upstream on the way."""
import os
import sqlite3
import time

import clients
import mailgen
import peers
from peers import test

UP_PW = "upstream-secret"
PW = "local-pw"
Q = "quser@pop.test"

spam, ham = mailgen.spam, mailgen.ham


def setup(env):
    env.ca = peers.CA(env.dir)
    cert, key = env.ca.issue()
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key, {Q: UP_PW}))
    pg = env.pg = env.add(peers.Popgate(env.dir, interval=2, login_wait=10))
    pg.user_add("q", PW)
    pg.account_add("main", "q", "localhost", env.dovecot.port_tls, Q, UP_PW, "implicit", env.ca.cert)
    # the filter learns from mail like the user's before the daemon starts
    pg.train(spam, ham)
    env.db = os.path.join(pg.state_dir, "popgate.db")
    pg.start()


def ctx(env):
    return env.pg.ssl_context()


def download(env):
    return clients.poplib_download(env.pg.port_tls, "q/main", PW, "implicit", ctx(env))


def upstream_uidls(env):
    """{Message-ID: UIDL} as Dovecot itself shows them."""
    return clients.uidls_by_message_id(env.dovecot.port_tls, Q, UP_PW, env.dovecot.ssl_context(env.ca.cert))


def quarantined(env):
    """[(id, subject)] from popgate quarantine list."""
    return [(int(f[0]), f[5]) for f in env.pg.quarantine_list()]


def wait_quarantined(env, n):
    env.pg.wait_quarantined("q/main", PW, n)


def totals(env):
    with sqlite3.connect(env.db) as c:
        return c.execute("SELECT nspam, nham FROM bayes_meta").fetchone()


@test
def spam_is_hidden(env):
    env.ham1, env.spam1 = ham(1), spam(1)
    env.dovecot.add_message(Q, env.ham1)
    env.dovecot.add_message(Q, env.spam1)
    wait_quarantined(env, 1)
    clients.wait_count(env.pg.port_tls, "q/main", PW, 1, ctx(env))
    got = download(env)
    assert [mailgen.message_id(d) for _, d in got] == [mailgen.message_id(env.ham1)], got
    hdrs = mailgen.popgate_headers(got[0][1])
    assert any(h.startswith("X-Popgate-Verdict: ham") for h in hdrs), hdrs
    assert quarantined(env)[0][1] == "WIN BIG 1"
    # hidden, not deleted: both are still upstream
    env.dovecot.assert_holds(Q, [env.ham1, env.spam1])


@test
def release_shows_it_with_the_upstream_uidl(env):
    before = totals(env)
    qid = quarantined(env)[0][0]
    out = env.pg.cli("quarantine", "release", str(qid)).stdout.decode()
    assert "released" in out, out
    clients.wait_count(env.pg.port_tls, "q/main", PW, 2, ctx(env))
    msgs = download(env)
    got = {mailgen.message_id(d): u for u, d in msgs}
    sid = mailgen.message_id(env.spam1)
    assert sid in got, got
    assert got[sid] == upstream_uidls(env)[sid], "a released message keeps its upstream UIDL"
    data = [d for _, d in msgs if mailgen.message_id(d) == sid][0]
    assert b"X-Popgate-Verdict: released" in data and b"X-Spam-Flag: YES" not in data, data[:300]
    mailgen.assert_same([data], [mailgen.wire_form(env.spam1)], "released message")
    assert totals(env) == (before[0], before[1] + 1), "release trains it as ham"
    assert quarantined(env) == []


@test
def confirm_trains_spam_and_keeps_it_hidden(env):
    env.spam2 = spam(2)
    env.dovecot.add_message(Q, env.spam2)
    wait_quarantined(env, 1)
    before = totals(env)
    qid = quarantined(env)[0][0]
    env.pg.cli("quarantine", "confirm", str(qid))
    assert totals(env) == (before[0] + 1, before[1]), "confirm trains it as spam"
    env.pg.cli("quarantine", "confirm", str(qid))
    assert totals(env) == (before[0] + 1, before[1]), "and only once"
    got = [mailgen.message_id(d) for _, d in download(env)]
    assert mailgen.message_id(env.spam2) not in got
    assert len(got) == 2
    env.dovecot.assert_holds(Q, [env.ham1, env.spam1, env.spam2])


@test
def delete_removes_it_here_only(env):
    qid = quarantined(env)[0][0]
    env.pg.cli("quarantine", "delete", str(qid))
    assert quarantined(env) == []
    time.sleep(2.5)     # a sync interval: the deleted message must not come back
    clients.stat(env.pg.port_tls, "q/main", PW, "implicit", ctx(env))
    assert quarantined(env) == []
    assert len(download(env)) == 2
    env.dovecot.assert_holds(Q, [env.ham1, env.spam1, env.spam2])
    # its record stays while its UIDL is upstream: that is what keeps it away
    assert states(env).count("gone") == 1, states(env)


def states(env):
    with sqlite3.connect(env.db) as c:
        return [r[0] for r in c.execute("SELECT state FROM messages ORDER BY id")]


@test
def records_of_mail_gone_upstream_are_forgotten(env):
    extra = ham(50)
    env.dovecot.add_message(Q, extra)
    clients.wait_count(env.pg.port_tls, "q/main", PW, 3, ctx(env))
    before = states(env)
    # a client deletes it: DELE upstream at the next sync, then the record goes
    p = clients.pop_connect(env.pg.port_tls, "implicit", ctx(env))
    clients.pop_login(p, "q/main", PW)
    for n in range(1, 4):
        if b"Weekly meeting 50" in clients.retr(p, n):
            p.dele(n)
            break
    else:
        raise AssertionError("the new ham was not delivered")
    p.quit()

    def forgotten():
        clients.stat(env.pg.port_tls, "q/main", PW, "implicit", ctx(env))   # a login asks for a sync
        return len(states(env)) == len(before) - 1
    peers.wait_until(forgotten, 30, interval=0.5, what="the record of the deleted message to go")
    env.dovecot.assert_holds(Q, [env.ham1, env.spam1, env.spam2])
    assert states(env).count("gone") == 1, "the quarantined spam deleted here only keeps its record"
    assert len(download(env)) == 2


@test
def the_daemon_expires_old_quarantine_by_itself(env):
    env.spam3 = spam(3)
    env.dovecot.add_message(Q, env.spam3)
    wait_quarantined(env, 1)
    qid = quarantined(env)[0][0]
    env.pg.cli("filter", "policy", "q/main", "--quarantine-days", "30")
    with sqlite3.connect(env.db) as c:
        c.execute("UPDATE messages SET fetched_at = fetched_at - 40 * 86400 WHERE id = ?", (qid,))
        # and the training is more than a year old: the tokens only one
        # message ever had go with it (token_days, 365 by default)
        c.execute("UPDATE bayes_tokens SET last_seen = last_seen - 400")
        singles = c.execute("SELECT count(*) FROM bayes_tokens WHERE spam + ham = 1").fetchone()[0]
        common = c.execute("SELECT count(*) FROM bayes_tokens WHERE spam + ham > 1").fetchone()[0]
    assert singles > 0 and common > 0, (singles, common)
    # No command: the restarted daemon's own timer expires it.
    env.pg.stop()
    env.pg.start()
    peers.wait_until(lambda: quarantined(env) == [], 20, interval=0.3, what="expiry by the daemon")
    assert "1 quarantined messages expired" in env.pg.log(), "the daemon did not say it expired mail"
    assert "%d Bayes tokens of single messages expired" % singles in env.pg.log(), env.pg.log()[-2000:]
    with sqlite3.connect(env.db) as c:
        left = c.execute("SELECT count(*) FROM bayes_tokens WHERE spam + ham = 1").fetchone()[0]
        kept = c.execute("SELECT count(*) FROM bayes_tokens WHERE spam + ham > 1").fetchone()[0]
    assert (left, kept) == (0, common), (left, kept, common)
    assert len(download(env)) == 2, "expiry must not touch the mail the client sees"


@test
def tag_policy_delivers_spam_with_subject_prefix(env):
    env.pg.cli("filter", "policy", "q/main", "--spam", "tag", "--subject-prefix", "[SPAM]")
    env.spam4 = spam(4)
    env.dovecot.add_message(Q, env.spam4)
    clients.wait_count(env.pg.port_tls, "q/main", PW, 3, ctx(env))
    p = clients.pop_connect(env.pg.port_tls, "implicit", ctx(env))
    p.user("q/main")
    p.pass_(PW)
    sizes = {int(n): int(sz) for n, sz in (l.split() for l in (x.decode() for x in p.list()[1]))}
    found = False
    for n, size in sizes.items():
        data = b"\r\n".join(p.retr(n)[1]) + b"\r\n"
        assert len(data) == size, f"LIST says {size} octets, RETR gave {len(data)}"
        if b"WIN BIG 4" in data:
            found = True
            assert b"\r\nSubject: [SPAM] WIN BIG 4\r\n" in data, data[:600]
            assert b"X-Spam-Flag: YES" in data, data[:600]
        else:
            assert b"[SPAM]" not in data, "ham got the prefix"
    p.quit()
    assert found, "the tagged spam was not delivered"
    env.pg.cli("filter", "policy", "q/main", "--spam", "quarantine", "--subject-prefix", "")


if __name__ == "__main__":
    peers.main(setup, prefix="popgate-quarantine-")
