"""The HTML dashboard end to end: popgate serve syncing from Dovecot with a
trained filter, its page driven by a real headless Chromium through
playwright-core (tests/lib/dashboard.js). A user logs in, sees the
quarantined spam of their account, opens it, releases it, and a real POP3
client (poplib) then downloads it with its upstream UIDL. A wrong password
shows an error, logout ends the session, a hostile subject shows as text,
cookie-authenticated writes need the CSRF token, and /static serves only
the dashboard's own files."""
import fcntl
import http.client
import json
import os
import sqlite3
import subprocess
import time

import clients
import mailgen
import peers
from peers import test

UP_PW = "upstream-secret"
PW = "local-pw"
QU = "quser@pop.test"
RU = "ruser@pop.test"
PLAYWRIGHT = "playwright-core@1.65.2"
HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> jackpot"

spam, ham = mailgen.spam, mailgen.ham
LIB = os.path.join(os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", "..")),
                   "tests", "lib")


def ensure_playwright():
    """playwright-core in tests/lib/node_modules (git-ignored), installed with npm when missing."""
    if os.path.isfile(os.path.join(LIB, "node_modules", "playwright-core", "package.json")):
        return
    with open(os.path.join(LIB, ".npm-install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(LIB, "node_modules", "playwright-core", "package.json")):
            return
        peers.run(["npm", "install", "--prefix", LIB, "--no-save", "--no-package-lock", "--no-audit",
                   "--no-fund", "--loglevel=error", PLAYWRIGHT], timeout=300)


def browser(env, *steps):
    """Runs steps in one fresh Chromium; their results, then the page's dialogs and errors."""
    res = subprocess.run(["node", os.path.join(LIB, "dashboard.js"), env.base, json.dumps(steps)],
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    out = json.loads(res.stdout)
    for r in out:
        assert not (isinstance(r, dict) and "step_failed" in r), f"browser step failed: {r['step_failed']}"
    return out[:-1], out[-1]


def setup(env):
    ensure_playwright()
    env.ca = peers.CA(env.dir)
    cert, key = env.ca.issue()
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key, {QU: UP_PW, RU: UP_PW}))
    pg = env.pg = env.add(peers.Popgate(env.dir, interval=2, login_wait=10))
    pg.user_add("q", PW)
    pg.user_add("r", PW)
    pg.account_add("main", "q", "localhost", env.dovecot.port_tls, QU, UP_PW, "implicit", env.ca.cert)
    pg.account_add("main", "r", "localhost", env.dovecot.port_tls, RU, UP_PW, "implicit", env.ca.cert)
    pg.train(spam, ham)
    env.db = os.path.join(pg.state_dir, "popgate.db")
    env.base = f"http://127.0.0.1:{pg.web_port}"
    env.spam1, env.ham1, env.spam_r = spam(1), ham(1), spam(50)
    env.hostile = mailgen.message(HOSTILE, body=mailgen.class_text(mailgen.SPAM_WORDS, 7), tag="spam",
                                  sender="Casino <promo@casino.example>")
    for m in (env.ham1, env.spam1, env.hostile):
        env.dovecot.add_message(QU, m)
    env.dovecot.add_message(RU, env.spam_r)
    pg.start()
    peers.wait_port(pg.web_port, proc=pg.proc, what="popgate web")
    wait_quarantined(env, "q/main", 2)
    wait_quarantined(env, "r/main", 1)


def ctx(env):
    return env.pg.ssl_context()


def cli_quarantined(env):
    return {int(f[0]): f[1] for f in env.pg.quarantine_list()}


def wait_quarantined(env, login, n):
    env.pg.wait_quarantined(login, PW, n)


def audit(env):
    return env.pg.audit()


def call(env, method, path, body=None, headers=None):
    """(status, headers, parsed JSON or raw bytes) of one request with urllib."""
    return env.pg.api(method, path, body=body, headers=headers)


def raw_get(env, path):
    """Status of a GET for a path sent exactly as given (no client-side normalising)."""
    c = http.client.HTTPConnection("127.0.0.1", env.pg.web_port, timeout=10)
    try:
        c.putrequest("GET", path, skip_accept_encoding=True)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def api_login(env, user, password):
    st, h, body = call(env, "POST", "/api/v1/login", {"user": user, "password": password})
    return st, h, body


@test
def the_page_and_its_files_are_served_with_a_strict_csp(env):
    st, h, page = call(env, "GET", "/")
    assert st == 200 and h["Content-Type"] == "text/html; charset=utf-8", (st, h)
    assert b'<script src="/static/app.js"' in page and b"<form id=\"login-form\">" in page
    csp = h["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp, csp
    assert "http" not in csp, "no other origin may serve the page's code"
    assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY", h
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8"),
                        ("favicon.svg", "image/svg+xml"), ("index.html", "text/html; charset=utf-8")):
        st, h, data = call(env, "GET", "/static/" + name)
        assert st == 200 and h["Content-Type"] == ctype and len(data) > 100, (name, st, h)
        with open(os.path.join(os.environ.get("top_srcdir", "."), "web", name), "rb") as f:
            assert data == f.read(), name
    assert b"innerHTML" not in call(env, "GET", "/static/app.js")[2], "message text goes through textContent"
    st, h, body = call(env, "POST", "/")
    assert st == 405 and h["Allow"] == "GET, HEAD", (st, body)


@test
def static_refuses_path_traversal_and_other_names(env):
    for path in ("/static/../sql/001-core.sql", "/static/../../src/web.c", "/static/..%2f..%2fsrc%2fweb.c",
                 "/static/%2e%2e/README.md", "/static/../web/app.js", "/static//etc/passwd",
                 "/static/.app.js", "/static/app.js/", "/static/sub/app.js", "/static/app.sh",
                 "/static/app.JS", "/static/", "/static/nothere.js",
                 "/static/" + "a" * 300 + ".js", "/index.html", "/web/app.js"):
        st, data = raw_get(env, path)
        assert st == 404, f"{path}: {st}"
        assert b"CREATE TABLE" not in data and b"root:" not in data and b"#include" not in data, path


@test
def a_wrong_password_shows_an_error(env):
    (view, login), final = browser(env, ["goto"], ["login", "q", "not-the-password"])
    assert view == "login-view", view
    assert login["view"] == "login-view" and login["error"] == "Wrong user name or password.", login
    assert final["cookies"] == [] and final["page_errors"] == [], final
    # unknown user and wrong password look the same, and both take a while
    t0 = time.monotonic()
    wrong = api_login(env, "q", "nope")
    t1 = time.monotonic()
    unknown = api_login(env, "nobody", "nope")
    t2 = time.monotonic()
    assert wrong[0] == unknown[0] == 401 and wrong[2] == unknown[2], (wrong, unknown)
    assert "Set-Cookie" not in wrong[1], wrong[1]
    assert t1 - t0 >= 0.35 and t2 - t1 >= 0.35, (t1 - t0, t2 - t1)
    rows = [a for a in audit(env) if a[1] == "login"]
    assert ("", "login", "q", "bad credentials") in rows and ("", "login", "nobody", "bad credentials") in rows
    assert call(env, "POST", "/api/v1/login", {"user": "q"})[0] == 400


@test
def log_in_see_the_spam_release_it_and_pop3_gets_it(env):
    steps, final = browser(env, ["goto"], ["login", "q", PW], ["rows"], ["open", "WIN BIG 1"],
                           ["act", "release"], ["rows"])
    _, login, before, detail, status, after = steps
    assert login["view"] == "quarantine-view" and login["user"] == "q", login
    assert before["counts"] == ["q/main: 2"], before
    subjects = sorted(m["subject"] for m in before["messages"])
    assert subjects == sorted(["WIN BIG 1", HOSTILE]), subjects
    m = [m for m in before["messages"] if m["subject"] == "WIN BIG 1"][0]
    assert m["account"] == "q/main" and "promo@casino.example" in m["from"], m
    assert float(m["score"]) > 0.7 and m["reasons"] and m["date"], m
    assert detail["subject"] == "WIN BIG 1" and "Subject: WIN BIG 1\r\n" in detail["headers"], detail
    assert "casino jackpot" not in detail["headers"] and detail["reasons"], detail
    assert status == "Released: WIN BIG 1", status
    assert [m["subject"] for m in after["messages"]] == [HOSTILE] and after["counts"] == ["q/main: 1"], after
    assert final["cookies"] == [{"name": "popgate_session", "httpOnly": True, "sameSite": "Strict",
                                 "path": "/"}], final
    assert final["csp_violations"] == [] and final["page_errors"] == [] and final["dialogs"] == [], final
    # the released message reaches a real POP3 client with its upstream UIDL
    clients.wait_count(env.pg.port_tls, "q/main", PW, 2, ctx(env))
    got = {mailgen.message_id(d): u for u, d in
           clients.poplib_download(env.pg.port_tls, "q/main", PW, "implicit", ctx(env))}
    sid = mailgen.message_id(env.spam1)
    up = clients.uidls_by_message_id(env.dovecot.port_tls, QU, UP_PW, env.dovecot.ssl_context(env.ca.cert))
    assert sid in got and got[sid] == up[sid], (got, up)
    assert mailgen.message_id(env.hostile) not in got
    assert ("q", "quarantine.release", str(m["id"]), "ok") in audit(env), audit(env)


@test
def a_hostile_subject_shows_as_text(env):
    steps, final = browser(env, ["goto"], ["login", "q", PW], ["rows"], ["probe"], ["open", "jackpot"],
                           ["probe"])
    _, _, rows, probe_list, detail, probe_detail = steps
    assert [m["subject"] for m in rows["messages"]] == [HOSTILE], rows
    assert detail["subject"] == HOSTILE, detail
    for p in (probe_list, probe_detail):
        assert p["pwned"] is None and p["images"] == 0 and p["scripts"] == 1, p
        assert p["title"] == "popgate quarantine", p
    assert final["dialogs"] == [] and final["page_errors"] == [], final


@test
def logout_ends_the_session(env):
    steps, final = browser(env, ["goto"], ["login", "q", PW], ["reload"], ["logout"], ["reload"])
    _, login, reloaded, out, after = steps
    assert login["view"] == "quarantine-view" and reloaded == "quarantine-view", (login, reloaded)
    assert out["view"] == "login-view" and out["error"] == "You are logged out.", out
    assert after == "login-view", after
    assert final["cookies"] == [], final
    assert any(a[0] == "q" and a[1] == "logout" and a[3] == "ok" for a in audit(env)), audit(env)


def session(env):
    st, h, body = api_login(env, "q", PW)
    assert st == 200 and body["name"] == "q" and len(body["csrf"]) == 64, body
    cookie = h["Set-Cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    assert parts[0].startswith("popgate_session=") and len(parts[0]) > 40, cookie
    assert set(parts[1:]) == {"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"}, cookie
    return parts[0], body["csrf"]


@test
def cookie_writes_need_the_csrf_token(env):
    cookie, csrf = session(env)
    st, _, me = call(env, "GET", "/api/v1/me", headers={"Cookie": cookie})
    assert st == 200 and me["name"] == "q" and me["csrf"] == csrf, me
    qid = [i for i, a in cli_quarantined(env).items() if a == "q/main"][0]
    for method, path in (("POST", f"/api/v1/quarantine/{qid}/release"), ("POST", f"/api/v1/quarantine/{qid}/confirm"),
                         ("DELETE", f"/api/v1/quarantine/{qid}"), ("POST", "/api/v1/logout")):
        for extra in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf[:-1]}):
            st, _, body = call(env, method, path, headers=dict(Cookie=cookie, **extra))
            assert st == 403 and body["code"] == "csrf", (method, path, extra, st, body)
    assert qid in cli_quarantined(env), "a refused call must not touch the message"
    assert any(a[0] == "q" and a[3] == "csrf token missing or wrong" for a in audit(env)), audit(env)
    # with the right token a user still may not do what only admins do
    st, _, body = call(env, "PUT", "/api/v1/filter/spam_cutoff", {"value": 0.9},
                       headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert st == 403 and body["code"] == "forbidden", body
    assert audit(env)[-1] == ("q", "PUT /api/v1/filter/{key}", "/api/v1/filter/spam_cutoff", "forbidden"), \
        audit(env)[-1]
    st, _, body = call(env, "POST", f"/api/v1/quarantine/{qid}/confirm",
                       headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert st == 200 and body["result"] == "confirmed", body
    # only the hash of the cookie is stored
    with sqlite3.connect(env.db) as c:
        hashes = [r[0] for r in c.execute("SELECT hash FROM web_sessions")]
    assert hashes and cookie.split("=", 1)[1] not in hashes, hashes
    # after logout the cookie is worthless
    st, h, body = call(env, "POST", "/api/v1/logout", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    assert st == 200 and "Max-Age=0" in h["Set-Cookie"], (st, body)
    st, _, body = call(env, "GET", "/api/v1/me", headers={"Cookie": cookie})
    assert st == 401 and body["code"] == "unauthorized", body
    st, _, body = call(env, "GET", "/api/v1/me", headers={"Cookie": "popgate_session=" + "a" * 64})
    assert st == 401, body


@test
def the_daemon_stops_cleanly(env):
    env.pg.assert_clean_stop()


if __name__ == "__main__":
    peers.main(setup, prefix="popgate-dash-")
