"""The JSON API end to end: popgate serve syncing from Dovecot, with a
trained filter, spoken to over HTTP with Python's urllib (and the system
curl once). Users see only their own quarantine; release through the API
makes the message appear to a real POP3 client (poplib) with its upstream
UIDL and trains it as ham; confirm trains spam; delete removes it; list
entries change the next classification; refused requests get the right
status and a uniform JSON error; every state-changing call is audited."""
import json
import os
import sqlite3
import subprocess

import clients
import mailgen
import peers
from peers import test

UP_PW = "upstream-secret"
PW = "local-pw"
QU = "quser@pop.test"      # upstream mailbox of user q
RU = "ruser@pop.test"      # upstream mailbox of user r

spam, ham = mailgen.spam, mailgen.ham


def setup(env):
    env.ca = peers.CA(env.dir)
    cert, key = env.ca.issue()
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key, {QU: UP_PW, RU: UP_PW}))
    pg = env.pg = env.add(peers.Popgate(env.dir, interval=2, login_wait=10))
    pg.user_add("q", PW)
    pg.user_add("r", PW)
    pg.user_add("boss", PW, admin=True)
    pg.account_add("main", "q", "localhost", env.dovecot.port_tls, QU, UP_PW, "implicit", env.ca.cert)
    pg.account_add("main", "r", "localhost", env.dovecot.port_tls, RU, UP_PW, "implicit", env.ca.cert)
    pg.train(spam, ham)
    env.tok = {}
    for user in ("q", "r", "boss"):
        res = pg.cli("token", "add", user, f"{user}'s script")
        env.tok[user] = res.stdout.decode().strip()
    env.db = os.path.join(pg.state_dir, "popgate.db")
    env.base = f"http://127.0.0.1:{pg.web_port}"
    pg.start()
    peers.wait_port(pg.web_port, proc=pg.proc, what="popgate web")


def call(env, method, path, user=None, body=None, raw=None, token=None, headers=None):
    """(status, headers, parsed JSON body) of one request, as user's token by default."""
    if user is not None:
        token = env.tok[user]
    return env.pg.api(method, path, body=body, raw=raw, token=token, headers=headers)


def assert_error(got, status, code):
    st, _, body = got
    assert st == status, f"status {st}, wanted {status}: {body}"
    assert set(body) == {"error", "code"} and body["code"] == code and body["error"], body


def ctx(env):
    return env.pg.ssl_context()


def cli_quarantined(env):
    """{id: account} from popgate quarantine list."""
    return {int(f[0]): f[1] for f in env.pg.quarantine_list()}


def wait_quarantined(env, login, n):
    env.pg.wait_quarantined(login, PW, n)


def totals(env):
    with sqlite3.connect(env.db) as c:
        return c.execute("SELECT nspam, nham FROM bayes_meta").fetchone()


def audit(env):
    return env.pg.audit()


def upstream_uidls(env, login):
    return clients.uidls_by_message_id(env.dovecot.port_tls, login, UP_PW, env.dovecot.ssl_context(env.ca.cert))


@test
def health_needs_no_token_and_sends_security_headers(env):
    st, h, body = call(env, "GET", "/api/v1/health")
    assert st == 200 and body["status"] == "ok" and body["version"], body
    assert h["Content-Type"] == "application/json; charset=utf-8", h["Content-Type"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Cache-Control"] == "no-store"
    assert "default-src 'none'" in h["Content-Security-Policy"], h["Content-Security-Policy"]


@test
def a_token_is_required(env):
    st, h, body = call(env, "GET", "/api/v1/me")
    assert_error((st, h, body), 401, "unauthorized")
    assert h["WWW-Authenticate"].startswith("Bearer"), h
    assert_error(call(env, "GET", "/api/v1/me", token="pgt_" + "A" * 43), 401, "unauthorized")
    assert_error(call(env, "GET", "/api/v1/me", token=env.tok["q"][:-1]), 401, "unauthorized")
    assert_error(call(env, "GET", "/api/v1/me", headers={"Authorization": "Basic cTpsb2NhbC1wdw=="}),
                 401, "unauthorized")
    st, _, me = call(env, "GET", "/api/v1/me", user="q")
    assert st == 200 and me["name"] == "q" and me["admin"] is False, me
    assert call(env, "GET", "/api/v1/me", user="boss")[2]["admin"] is True
    listing = env.pg.cli("token", "list").stdout.decode()
    assert "q's script" in listing and "boss" in listing, listing
    for t in env.tok.values():
        assert t.startswith("pgt_") and t not in listing, "token list must not show tokens"
        assert t not in env.pg.log(), "a token reached the log"
    with sqlite3.connect(env.db) as c:
        hashes = [r[0] for r in c.execute("SELECT hash FROM api_tokens")]
    assert len(hashes) == 3 and not any(t in hashes for t in env.tok.values()), "tokens stored hashed"


@test
def accounts_are_the_callers_without_passwords(env):
    st, _, body = call(env, "GET", "/api/v1/accounts", user="q")
    assert st == 200, body
    assert [a["account"] for a in body["accounts"]] == ["q/main"], body
    a = body["accounts"][0]
    assert a["spam_policy"]["spam"] == "quarantine" and a["spam_policy"]["quarantine_days"] == 30, a
    assert UP_PW not in json.dumps(body) and "secret" not in a, a
    st, _, body = call(env, "GET", "/api/v1/accounts", user="boss")
    assert sorted(a["account"] for a in body["accounts"]) == ["q/main", "r/main"], body


@test
def a_user_sees_only_their_own_quarantine(env):
    env.ham1, env.spam1, env.spam_r = ham(1), spam(1), spam(50)
    env.dovecot.add_message(QU, env.ham1)
    env.dovecot.add_message(QU, env.spam1)
    env.dovecot.add_message(RU, env.spam_r)
    wait_quarantined(env, "q/main", 1)
    wait_quarantined(env, "r/main", 1)
    st, _, body = call(env, "GET", "/api/v1/quarantine", user="q")
    assert st == 200 and body["total"] == 1, body
    m = body["messages"][0]
    assert m["account"] == "q/main" and m["subject"] == "WIN BIG 1", m
    assert "promo@casino.example" in m["from"] and m["score"] > 0.7 and m["fetched"] > 0, m
    assert isinstance(m["reasons"], list) and m["reasons"], m
    env.qid = m["id"]
    rid = [i for i, a in cli_quarantined(env).items() if a == "r/main"][0]
    st, _, full = call(env, "GET", f"/api/v1/quarantine/{env.qid}", user="q")
    assert st == 200 and "Subject: WIN BIG 1" in full["headers"], full
    assert "casino jackpot" not in full["headers"], "only the header part is shown"
    # someone else's message is as unknown as a missing one
    assert_error(call(env, "GET", f"/api/v1/quarantine/{env.qid}", user="r"), 404, "not_found")
    assert_error(call(env, "GET", f"/api/v1/quarantine/{rid}", user="q"), 404, "not_found")
    assert_error(call(env, "GET", "/api/v1/quarantine/999999", user="q"), 404, "not_found")
    assert_error(call(env, "POST", f"/api/v1/quarantine/{env.qid}/release", user="r"), 404, "not_found")
    assert_error(call(env, "DELETE", f"/api/v1/quarantine/{env.qid}", user="r"), 404, "not_found")
    assert env.qid in cli_quarantined(env), "another user's call must not touch the message"
    assert_error(call(env, "GET", "/api/v1/quarantine?account=r/main", user="q"), 404, "not_found")
    st, _, body = call(env, "GET", "/api/v1/quarantine?account=r/main", user="boss")
    assert st == 200 and [m["id"] for m in body["messages"]] == [rid], body
    assert call(env, "GET", "/api/v1/quarantine", user="boss")[2]["total"] == 2
    st, _, body = call(env, "GET", "/api/v1/quarantine?limit=1&offset=1", user="boss")
    assert st == 200 and body["total"] == 2 and len(body["messages"]) == 1, body
    assert_error(call(env, "GET", "/api/v1/quarantine?limit=0", user="q"), 400, "bad_request")
    assert_error(call(env, "GET", "/api/v1/quarantine?limit=x", user="q"), 400, "bad_request")


@test
def release_shows_it_to_pop3_with_the_upstream_uidl_and_trains_ham(env):
    before = totals(env)
    st, _, body = call(env, "POST", f"/api/v1/quarantine/{env.qid}/release", user="q")
    assert st == 200 and body["result"] == "released" and body["id"] == env.qid, body
    clients.wait_count(env.pg.port_tls, "q/main", PW, 2, ctx(env))
    msgs = clients.poplib_download(env.pg.port_tls, "q/main", PW, "implicit", ctx(env))
    got = {mailgen.message_id(d): u for u, d in msgs}
    sid = mailgen.message_id(env.spam1)
    assert sid in got, got
    assert got[sid] == upstream_uidls(env, QU)[sid], "a released message keeps its upstream UIDL"
    assert totals(env) == (before[0], before[1] + 1), "release trains it as ham"
    assert_error(call(env, "POST", f"/api/v1/quarantine/{env.qid}/release", user="q"), 404, "not_found")
    assert_error(call(env, "GET", f"/api/v1/quarantine/{env.qid}", user="q"), 404, "not_found")


@test
def confirm_trains_spam_and_keeps_it_hidden(env):
    env.spam2 = spam(2)
    env.dovecot.add_message(QU, env.spam2)
    wait_quarantined(env, "q/main", 1)
    qid = [m["id"] for m in call(env, "GET", "/api/v1/quarantine", user="q")[2]["messages"]][0]
    before = totals(env)
    st, _, body = call(env, "POST", f"/api/v1/quarantine/{qid}/confirm", user="q")
    assert st == 200 and body["result"] == "confirmed", body
    assert totals(env) == (before[0] + 1, before[1]), "confirm trains it as spam"
    got = [mailgen.message_id(d) for _, d in
           clients.poplib_download(env.pg.port_tls, "q/main", PW, "implicit", ctx(env))]
    assert mailgen.message_id(env.spam2) not in got and len(got) == 2, got
    env.qid2 = qid


@test
def delete_removes_it_here_only(env):
    st, _, body = call(env, "DELETE", f"/api/v1/quarantine/{env.qid2}", user="q")
    assert st == 200 and body["result"] == "deleted", body
    assert call(env, "GET", "/api/v1/quarantine", user="q")[2]["total"] == 0
    assert_error(call(env, "DELETE", f"/api/v1/quarantine/{env.qid2}", user="q"), 404, "not_found")
    env.dovecot.assert_holds(QU, [env.ham1, env.spam1, env.spam2])


@test
def list_entries_change_the_next_classification(env):
    entry = {"kind": "block", "pattern": "*@pest.example"}
    assert_error(call(env, "POST", "/api/v1/lists", user="q", body=entry), 403, "forbidden")
    st, _, body = call(env, "POST", "/api/v1/lists", user="boss", body=entry)
    assert st == 201 and body == entry, body
    st, _, body = call(env, "GET", "/api/v1/lists", user="q")
    assert st == 200 and entry in body["entries"], body
    assert_error(call(env, "POST", "/api/v1/lists", user="boss", body={"kind": "grey", "pattern": "x"}),
                 400, "bad_request")
    # a ham-looking message from the blocked domain is quarantined
    env.dovecot.add_message(QU, ham(3, sender="Pest <news@pest.example>"))
    wait_quarantined(env, "q/main", 1)
    m = call(env, "GET", "/api/v1/quarantine", user="q")[2]["messages"][0]
    assert "news@pest.example" in m["from"] and "block_list" in json.dumps(m["reasons"]), m
    # the system curl removes the entry (the pattern URL-encoded in the path)
    out = subprocess.run(["curl", "-sS", "-X", "DELETE", "-w", "\\n%{http_code}",
                          "-H", "Authorization: Bearer " + env.tok["boss"],
                          env.base + "/api/v1/lists/block/%2A%40pest.example"],
                         check=True, capture_output=True, timeout=30).stdout.decode()
    text, code = out.rsplit("\n", 1)
    assert code == "200" and json.loads(text)["deleted"] is True, out
    assert entry not in call(env, "GET", "/api/v1/lists", user="q")[2]["entries"]
    # and the next one from there is delivered
    env.dovecot.add_message(QU, ham(4, sender="Pest <news@pest.example>"))
    clients.wait_count(env.pg.port_tls, "q/main", PW, 3, ctx(env))
    assert call(env, "GET", "/api/v1/quarantine", user="q")[2]["total"] == 1
    assert_error(call(env, "DELETE", "/api/v1/lists/block/%2A%40pest.example", user="boss"), 404, "not_found")
    assert_error(call(env, "DELETE", "/api/v1/lists/grey/x", user="boss"), 404, "not_found")


@test
def filter_settings_are_validated(env):
    st, _, body = call(env, "GET", "/api/v1/filter", user="q")
    assert st == 200 and body["settings"]["spam_cutoff"] > 0, body
    assert (body["trained"]["spam"], body["trained"]["ham"]) == totals(env), body
    # the same settings as popgate filter show prints, key for key
    shown = dict(l.split(" = ", 1) for l in env.pg.cli("filter", "show").stdout.decode().splitlines()
                 if " = " in l)
    numeric = {k: float(v) for k, v in shown.items() if v.replace(".", "", 1).isdigit()}
    assert len(numeric) >= 10, shown
    for k, v in numeric.items():
        assert k in body["settings"] and abs(body["settings"][k] - v) < 1e-6, (k, v, body["settings"])
    assert_error(call(env, "PUT", "/api/v1/filter/spam_cutoff", user="q", body={"value": 0.9}), 403, "forbidden")
    st, _, err = call(env, "PUT", "/api/v1/filter/spam_cutoff", user="boss", body={"value": "lots"})
    assert_error((st, _, err), 400, "bad_request")
    assert "spam_cutoff" in err["error"], err
    assert_error(call(env, "PUT", "/api/v1/filter/no_such_key", user="boss", body={"value": 1}), 400, "bad_request")
    assert_error(call(env, "PUT", "/api/v1/filter/spam_cutoff", user="boss", body={"value": [1]}),
                 400, "bad_request")
    assert_error(call(env, "PUT", "/api/v1/filter/spam_cutoff", user="boss", body={}), 400, "bad_request")
    st, _, body = call(env, "PUT", "/api/v1/filter/spam_cutoff", user="boss", body={"value": 0.9})
    assert st == 200 and body == {"key": "spam_cutoff", "value": "0.9"}, body
    assert "spam_cutoff = 0.9\n" in env.pg.cli("filter", "show").stdout.decode()
    assert call(env, "GET", "/api/v1/filter", user="q")[2]["settings"]["spam_cutoff"] == 0.9
    st, _, body = call(env, "PUT", "/api/v1/filter/spam_cutoff", user="boss", body={"value": None})
    assert st == 200 and body["value"] is None, body
    assert call(env, "GET", "/api/v1/filter", user="q")[2]["settings"]["spam_cutoff"] == 0.7


@test
def bad_requests_get_a_status_and_a_json_error(env):
    assert_error(call(env, "POST", "/api/v1/lists", user="boss", raw=b'{"kind": "block",'), 400, "bad_request")
    assert_error(call(env, "POST", "/api/v1/lists", user="boss", raw=b'[1, 2]'), 400, "bad_request")
    assert_error(call(env, "POST", "/api/v1/lists", user="boss"), 400, "bad_request")
    big = b'{"kind": "block", "pattern": "' + b"x" * (70 * 1024) + b'"}'
    assert_error(call(env, "POST", "/api/v1/lists", user="boss", raw=big), 413, "too_large")
    assert_error(call(env, "GET", "/api/v1/nothing", user="q"), 404, "not_found")
    assert_error(call(env, "GET", "/index.html"), 404, "not_found")
    st, h, body = call(env, "PUT", "/api/v1/quarantine/1", user="q", body={})
    assert_error((st, h, body), 405, "method_not_allowed")
    assert "GET" in h["Allow"] and "DELETE" in h["Allow"], h["Allow"]
    assert_error(call(env, "GET", "/api/v1/quarantine/abc", user="q"), 404, "not_found")
    assert_error(call(env, "GET", "/api/v1/quarantine/-1", user="q"), 404, "not_found")
    # the daemon still answers
    assert call(env, "GET", "/api/v1/health")[0] == 200


@test
def state_changes_are_audited(env):
    rows = audit(env)
    assert ("q", "quarantine.release", str(env.qid), "ok") in rows, rows
    assert ("q", "quarantine.confirm", str(env.qid2), "ok") in rows, rows
    assert ("q", "quarantine.delete", str(env.qid2), "ok") in rows, rows
    assert ("r", "quarantine.release", str(env.qid), "not found") in rows, rows
    assert ("boss", "list.add", "block *@pest.example", "ok") in rows, rows
    assert ("boss", "list.del", "block *@pest.example", "ok") in rows, rows
    assert ("boss", "filter.set", "spam_cutoff = 0.9", "ok") in rows, rows
    assert any(r[0] == "q" and r[1] == "POST /api/v1/lists" and r[3] == "forbidden" for r in rows), rows
    assert any(r[1] == "filter.set" and r[3] != "ok" and "spam_cutoff" in r[3] for r in rows), rows
    assert any(r[3] == "body too large" for r in rows), rows
    assert sum(1 for r in rows if r[0] == "(cli)" and r[1] == "token.add") == 3, rows
    reads = [r for r in rows if r[1].startswith("GET")]
    assert not reads, reads


@test
def a_deleted_token_is_refused_at_once(env):
    tok = env.pg.cli("token", "add", "r", "short-lived").stdout.decode().strip()
    assert call(env, "GET", "/api/v1/me", token=tok)[2]["name"] == "r"
    line = [l for l in env.pg.cli("token", "list", "r").stdout.decode().splitlines() if "short-lived" in l][0]
    assert line.split("\t")[4] != "never", "last use is recorded: " + line
    env.pg.cli("token", "del", line.split("\t")[0])
    assert_error(call(env, "GET", "/api/v1/me", token=tok), 401, "unauthorized")
    assert call(env, "GET", "/api/v1/me", user="r")[0] == 200, "the user's other token still works"
    res = env.pg.cli("token", "del", line.split("\t")[0], check=False)
    assert res.returncode == 1 and b"no such token" in res.stderr, res


@test
def remote_listen_is_refused_without_allow_remote(env):
    pg = env.pg
    cfg = os.path.join(env.dir, "remote.ini")
    with open(pg.config) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace(f"listen = 127.0.0.1:{pg.web_port}", "listen = 0.0.0.0:18025"))
    res = peers.run([pg.bin, "check-config", "-c", cfg], check=False)
    assert res.returncode != 0 and b"allow_remote" in res.stderr, res
    res = peers.run([pg.bin, "serve", "-c", cfg], check=False, timeout=20)
    assert res.returncode != 0 and b"not a loopback address" in res.stderr, res
    with open(cfg, "w") as f:
        f.write(text.replace(f"listen = 127.0.0.1:{pg.web_port}",
                             "listen = 0.0.0.0:18025\nallow_remote = yes"))
    res = peers.run([pg.bin, "check-config", "-c", cfg], check=False)
    assert res.returncode == 0, res


@test
def the_daemon_stops_cleanly(env):
    env.pg.assert_clean_stop()


if __name__ == "__main__":
    peers.main(setup, prefix="popgate-api-")
