"""Trust stores, pins and TLS diagnostics against real upstreams: Dovecot
and stunnel with a chain from a private CA (kept in a custom store), a
self-signed, an expired and a wrongly named certificate, a TLS-1.2-only and
a TLS-1.3-only server, a key that changes under TOFU, pins, and the
SSL_CERT_FILE trap. `popgate account test --json` must name each failure
with the right code and a hint; syncs must use exactly the account's trust;
SIGHUP replaces popgate's own certificate without dropping a session."""
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time

import clients
import mailgen
import peers
from peers import test

UP_PW = "upstream-secret"
PW = "local-pw"
USER = "tom@pop.test"


def setup(env):
    env.ca = peers.CA(env.dir)
    env.other_ca = peers.CA(os.path.join(env.dir, "other"), name="another test CA")
    cert, key = env.ca.issue()
    env.cert, env.key = cert, key
    env.dovecot = env.start(peers.Dovecot(env.dir, cert, key, {USER: UP_PW}))
    d = env.dovecot
    env.msgs = [mailgen.message("through a private CA", tag="trust")]
    for m in env.msgs:
        d.add_message(USER, m)
    # a TLS-1.3-only Dovecot (its own folder)
    env.d13 = env.start(peers.Dovecot(os.path.join(env.dir, "d13"), cert, key, {USER: UP_PW},
                                      ssl_min_protocol="TLSv1.3"))
    env.tls12 = env.start(peers.Stunnel(env.dir, d.port_plain, cert, key, tls_max="TLSv1.2"))
    bad = {"wrongname": env.ca.wrong_name(), "expired": env.ca.expired(),
           "selfsigned": peers.self_signed(env.dir)}
    env.bad = {k: env.start(peers.Stunnel(env.dir, d.port_plain, c, k2, tls_max="TLSv1.3"))
               for k, (c, k2) in bad.items()}
    # TOFU: a server whose key files can be swapped
    env.key_a = env.ca.issue()
    env.key_b = env.ca.issue()
    env.tofu_cert = os.path.join(env.dir, "tofu-cert.pem")
    env.tofu_key = os.path.join(env.dir, "tofu-key.pem")
    shutil.copy(env.key_a[0], env.tofu_cert)
    shutil.copy(env.key_a[1], env.tofu_key)
    env.tofu = env.start(peers.Stunnel(env.dir, d.port_plain, env.tofu_cert, env.tofu_key,
                                       tls_max="TLSv1.3"))

    # popgate serves a certificate of its own that SIGHUP replaces
    env.own = [env.ca.issue(), env.ca.issue()]
    env.own_cert = os.path.join(env.dir, "own-cert.pem")
    env.own_key = os.path.join(env.dir, "own-key.pem")
    shutil.copy(env.own[0][0], env.own_cert)
    shutil.copy(env.own[0][1], env.own_key)
    pg = env.pg = env.add(peers.Popgate(env.dir, cert=(env.own_cert, env.own_key), login_wait=15))
    pg.user_add("tom", PW)
    add = lambda name, port, tls="implicit", pw=UP_PW, host="localhost": pg.account_add(
        name, "tom", host, port, USER, pw, tls)
    add("good", d.port_tls)
    add("stls", d.port_plain, "starttls")
    add("sys", d.port_tls)
    add("other", d.port_tls)
    for kind, st in env.bad.items():
        add(kind, st.port)
    add("old", env.tls12.port)
    add("new", env.d13.port_tls)
    add("tofu", env.tofu.port)
    add("pinned", d.port_tls)
    add("badpw", d.port_tls, pw="not the password")
    add("nodns", 995, host="nonexistent.invalid")
    add("closed", peers.free_port())
    pg.cli("trust", "add", "corp", env.ca.cert)
    pg.cli("trust", "add", "elsewhere", env.other_ca.cert)
    for name in ("good", "stls", "wrongname", "expired", "selfsigned", "old", "new", "tofu",
                 "pinned", "badpw", "nodns", "closed"):
        pg.cli("account", "set", name, "--owner", "tom", "--trust", "corp")
    pg.cli("account", "set", "tom/other", "--trust", "elsewhere")
    pg.cli("account", "set", "tom/sys", "--trust", "system")
    pg.start()


def clean_environ(extra=None):
    """The environment without SSL_CERT_FILE/SSL_CERT_DIR, plus extra."""
    e = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    e.update(extra or {})
    return e


def account_test(env, name, environ=None, config=None):
    """Runs account test --json; returns (exit status, the JSON object)."""
    cmd = [env.pg.bin, "account", "test", "-c", config or env.pg.config, f"tom/{name}", "--json"]
    r = subprocess.run(cmd, capture_output=True, timeout=120, env=clean_environ(environ))
    out = r.stdout.decode()
    try:
        obj = json.loads(out)
    except ValueError:
        raise AssertionError(f"account test {name}: not one JSON object: {out!r} {r.stderr!r}")
    return r.returncode, obj


def expect(env, name, code, stage=None, **kw):
    rc, obj = account_test(env, name, **kw)
    assert obj["code"] == code, f"{name}: code {obj['code']}, wanted {code}: {obj}"
    assert obj["ok"] is (code == "ok"), obj
    assert (rc == 0) == (code == "ok"), f"{name}: exit status {rc} with code {code}"
    assert obj["hint"], obj
    if stage:
        assert obj["stage"] == stage, f"{name}: stage {obj['stage']}, wanted {stage}"
    return obj


def ctx(env):
    return env.pg.ssl_context()


def sync_count(env, name):
    """Logs in to popgate (which waits for a sync) and returns the message count."""
    count, _ = clients.stat(env.pg.port_tls, f"tom/{name}", PW, "implicit", ctx(env))
    return count


def sync_fails(env, name, code):
    """A sync of the account (a login waits for it) fails with code, in the log."""
    mark = f"sync failed: {code}"
    before = env.pg.log().count(mark)
    assert sync_count(env, name) is not None
    peers.wait_until(lambda: env.pg.log().count(mark) > before, 20, what=f"a sync failing with {code}")
    return True


def log_has(env, text, timeout=20):
    peers.wait_until(lambda: text in env.pg.log(), timeout, what=f"log line {text!r}")
    return True


@test
def custom_ca_chain_works_for_test_and_sync(env):
    obj = expect(env, "good", "ok", "done")
    steps = {s["step"]: s for s in obj["steps"]}
    for s in ("resolve", "connect", "tls", "verify", "greeting", "capa", "login"):
        assert steps[s]["result"] == "ok", (s, steps[s])
    assert obj["tls_version"] in ("TLSv1.2", "TLSv1.3") and obj["tls_cipher"], obj
    assert obj["addresses"] and obj["addresses"][0]["error"] is None, obj["addresses"]
    assert obj["chain"] and obj["chain"][0]["subject"].endswith("localhost"), obj["chain"]
    assert "corp" in obj["verification"], obj["verification"]
    assert obj["trust"]["store"] == "corp" and obj["trust"]["min_tls"] == "1.2", obj["trust"]
    clients.wait_count(env.pg.port_tls, "tom/good", PW, len(env.msgs), ctx(env))
    got = clients.poplib_download(env.pg.port_tls, "tom/good", PW, "implicit", ctx(env))
    mailgen.assert_same([d for _, d in got], [mailgen.wire_form(m) for m in env.msgs])
    expect(env, "stls", "ok", "done")


@test
def human_account_test_output(env):
    r = env.pg.cli("account", "test", "tom/good")
    out = r.stdout.decode()
    for word in ("resolve", "connect", "tls", "verify", "greeting", "capa", "login", "result: ok",
                 "chain presented", "SHA-256", "SPKI pin", "trust=corp"):
        assert word in out, f"{word!r} missing from: {out}"
    r = env.pg.cli("account", "test", "tom/selfsigned", check=False)
    out = r.stdout.decode()
    assert r.returncode == 1 and "result: cert_self_signed at verify" in out and "hint:" in out, out


@test
def syncs_use_exactly_the_account_trust(env):
    # The server chains to the private CA only: the system store and another
    # custom store must refuse it, in the test and in the sync.
    expect(env, "sys", "cert_untrusted", "verify")
    obj = expect(env, "other", "cert_untrusted", "verify")
    assert "elsewhere" in obj["hint"], obj["hint"]
    for name in ("sys", "other"):
        assert sync_count(env, name) == 0, f"{name}: fetched over an untrusted chain"
    log_has(env, "cert_untrusted")
    # Mozilla's list does not hold the private CA either.
    env.pg.cli("account", "set", "tom/sys", "--trust", "mozilla")
    try:
        o = expect(env, "sys", "cert_untrusted", "verify")
        assert o["trust"]["store"] == "mozilla", o["trust"]
    finally:
        env.pg.cli("account", "set", "tom/sys", "--trust", "system")
    # Trusting the CA through the environment changes nothing for popgate.
    rc, o = account_test(env, "sys", environ={"SSL_CERT_FILE": env.ca.cert})
    assert o["code"] == "cert_untrusted", o
    # The corp account is not fooled by a chain from another CA either.
    env.pg.cli("account", "set", "tom/other", "--trust", "corp")
    expect(env, "other", "ok")
    env.pg.cli("account", "set", "tom/other", "--trust", "elsewhere")
    env.dovecot.assert_holds(USER, env.msgs)


@test
def bad_certificates_have_their_codes(env):
    o = expect(env, "selfsigned", "cert_self_signed", "verify")
    assert o["chain"] and o["chain"][0]["self_signed"] is True, o["chain"]
    o = expect(env, "expired", "cert_expired", "verify")
    assert o["chain"][0]["expired"] is True, o["chain"]
    o = expect(env, "wrongname", "cert_name_mismatch", "verify")
    assert "wrong.example" in o["hint"], o["hint"]
    for kind in env.bad:
        assert sync_count(env, kind) == 0, f"{kind}: fetched over a bad certificate"


@test
def tls12_only_server_and_min_tls_13(env):
    expect(env, "old", "ok")
    env.pg.cli("account", "set", "tom/old", "--min-tls", "1.3")
    try:
        o = expect(env, "old", "tls_version_mismatch", "tls")
        assert "at most TLS 1.2" in o["hint"] and "requires TLS 1.3" in o["hint"], o["hint"]
        sync_fails(env, "old", "tls_version_mismatch")
    finally:
        env.pg.cli("account", "set", "tom/old", "--min-tls", "1.2")
    expect(env, "old", "ok")


@test
def tls13_only_dovecot_and_max_tls_12(env):
    o = expect(env, "new", "ok")
    assert o["tls_version"] == "TLSv1.3", o["tls_version"]
    env.pg.cli("account", "set", "tom/new", "--max-tls", "1.2")
    try:
        o = expect(env, "new", "tls_version_mismatch", "tls")
        assert "requires TLS 1.3" in o["hint"] and "at most TLS 1.2" in o["hint"], o["hint"]
    finally:
        env.pg.cli("account", "set", "tom/new", "--max-tls", "1.3")
    expect(env, "new", "ok")


def pin_of(cert_file):
    der = subprocess.run(["openssl", "x509", "-in", cert_file, "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=der,
                          capture_output=True, check=True).stdout
    import base64
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


@test
def tofu_changed_key_needs_acceptance(env):
    env.pg.cli("account", "set", "tom/tofu", "--tofu")
    o = expect(env, "tofu", "ok")
    pin_a, pin_b = pin_of(env.key_a[0]), pin_of(env.key_b[0])
    assert pin_a in o["tofu_note"], o
    listing = env.pg.cli("account", "list").stdout.decode()
    assert re.search(r"tom/tofu\t.*pins=1 tofu", listing), listing
    # the server's key changes
    shutil.copy(env.key_b[0], env.tofu_cert)
    shutil.copy(env.key_b[1], env.tofu_key)
    env.tofu.stop()
    env.tofu.start()
    o = expect(env, "tofu", "pin_mismatch", "verify")
    assert "--accept-new-pin" in o["hint"] and pin_b in o["hint"], o["hint"]
    assert o["trust"]["pending_pin"] == pin_b, o["trust"]
    sync_fails(env, "tofu", "pin_mismatch")
    listing = env.pg.cli("account", "list").stdout.decode()
    assert "PENDING-NEW-KEY" in listing and pin_b in listing, listing
    expect(env, "tofu", "pin_mismatch")      # still refused: nobody accepted it
    r = env.pg.cli("account", "set", "tom/tofu", "--accept-new-pin")
    assert pin_b in r.stdout.decode(), r.stdout
    o = expect(env, "tofu", "ok")
    assert o["trust"]["pins"] == pin_b and o["trust"]["pending_pin"] == "", o["trust"]
    clients.wait_count(env.pg.port_tls, "tom/tofu", PW, len(env.msgs), ctx(env))


@test
def wrong_pin_and_right_pin(env):
    env.pg.cli("account", "set", "tom/pinned", "--pin", "sha256/" + "A" * 43 + "=")
    o = expect(env, "pinned", "pin_mismatch", "verify")
    assert "--pin" in o["hint"], o["hint"]
    sync_fails(env, "pinned", "pin_mismatch")
    # the right pin, as trust fetch shows it
    out = env.pg.cli("trust", "fetch", f"localhost:{env.dovecot.port_tls}").stdout.decode()
    pins = re.findall(r"SPKI pin:\s+(\S+)", out)
    assert pins and pins[0] == pin_of(env.cert), out
    env.pg.cli("account", "set", "tom/pinned", "--pin", pins[0])
    expect(env, "pinned", "ok")
    clients.wait_count(env.pg.port_tls, "tom/pinned", PW, len(env.msgs), ctx(env))
    # pinning the CA's key works too (any certificate of the verified chain)
    env.pg.cli("account", "set", "tom/pinned", "--pin", pin_of(env.ca.cert))
    expect(env, "pinned", "ok")


@test
def auth_dns_and_connect_failures(env):
    o = expect(env, "badpw", "auth_failed", "login")
    assert USER in o["hint"], o["hint"]
    o = expect(env, "nodns", "dns_failed", "resolve")
    assert "nonexistent.invalid" in o["hint"], o["hint"]
    o = expect(env, "closed", "connect_failed", "connect")
    assert o["addresses"] and o["addresses"][0]["error"], o["addresses"]


@test
def ssl_cert_file_override_is_detected(env):
    bogus = {"SSL_CERT_FILE": env.ca.cert}
    rc, o = account_test(env, "sys", environ=bogus)
    assert o["env_override"] and "SSL_CERT_FILE" in o["env_override"], o
    # the system store ignores it: still untrusted
    assert o["code"] == "cert_untrusted", o
    rc, o = account_test(env, "good")
    assert o["env_override"] is None, o
    out = peers.run([env.pg.bin, "trust", "list", "-c", env.pg.config],
                    env=clean_environ()).stdout.decode()
    assert "WARNING" not in out, out
    r = peers.run([env.pg.bin, "trust", "list", "-c", env.pg.config], env=clean_environ(bogus))
    assert "SSL_CERT_FILE" in r.stdout.decode() and "WARNING" in r.stdout.decode(), r.stdout
    r = peers.run([env.pg.bin, "account", "test", "-c", env.pg.config, "tom/good"],
                  env=clean_environ(bogus))
    assert "WARNING: SSL_CERT_FILE=" in r.stdout.decode(), r.stdout
    # the daemon says so at start
    pg2 = env.add(peers.Popgate(env.dir, name="popgate-env", environ=bogus))
    pg2.start()
    peers.wait_until(lambda: f"SSL_CERT_FILE={env.ca.cert}" in pg2.log() and "ignores" in pg2.log(), 10,
                     what="the SSL_CERT_FILE warning at start")
    pg2.assert_clean_stop()


@test
def insecure_is_refused_unless_allowed_and_flagged(env):
    env.pg.cli("account", "set", "tom/selfsigned", "--insecure")
    try:
        listing = env.pg.cli("account", "list").stdout.decode()
        assert "INSECURE" in listing and "WARNING: tom/selfsigned is INSECURE" in listing, listing
        o = expect(env, "selfsigned", "cert_untrusted")
        assert "allow_insecure" in o["hint"] and o["trust"]["insecure"] is True, o
        assert sync_count(env, "selfsigned") == 0
        log_has(env, "allow_insecure")
        # a daemon started on this state names the account
        pg3 = env.add(peers.Popgate(env.dir, name="popgate-insecure"))
        pg3.state_dir = env.pg.state_dir
        pg3.settings["general"]["state_dir"] = env.pg.state_dir
        pg3.settings["pop3"]["cert"], pg3.settings["pop3"]["key"] = env.own_cert, env.own_key
        pg3.write_config()
        pg3.start()
        peers.wait_until(lambda: "account tom/selfsigned is INSECURE" in pg3.log(), 10,
                         what="the insecure account named at start")
        pg3.assert_clean_stop()
        # the same state with a configuration that allows it
        alt = os.path.join(env.pg.dir, "allow.ini")
        text = open(env.pg.config).read().replace("[sync]\n", "[sync]\nallow_insecure = yes\n")
        peers.write_file(alt, text, 0o600)
        o = expect(env, "selfsigned", "ok", config=alt)
        assert "NOT CHECKED" in o["verification"], o
    finally:
        env.pg.cli("account", "set", "tom/selfsigned", "--secure")
    expect(env, "selfsigned", "cert_self_signed")


@test
def trust_list_add_del(env):
    out = env.pg.cli("trust", "list").stdout.decode()
    assert "system" in out and "mozilla" in out and re.search(r"corp\s+custom\s+1 certificate", out), out
    out = env.pg.cli("trust", "list", "corp").stdout.decode()
    for word in ("subject:", "issuer:", "SANs:", "not before:", "not after:", "SHA-256:", "SPKI pin:",
                 "popgate test CA", "CA certificate"):
        assert word in out, f"{word} missing: {out}"
    soon, _ = env.ca.issue("soon.example", sans=["DNS:soon.example"], days=10)
    r = env.pg.cli("trust", "add", "soon", soon)
    assert "created" in r.stdout.decode() and "WARNING: expires in" in r.stdout.decode(), r.stdout
    out = env.pg.cli("trust", "list", "soon").stdout.decode()
    assert "WARNING: expires in" in out and "DNS:soon.example" in out, out
    fp = re.search(r"SHA-256:\s+(\S+)", out).group(1)
    r = env.pg.cli("trust", "del", "corp", check=False)
    assert r.returncode == 1 and b"used by" in r.stderr, r.stderr
    env.pg.cli("trust", "del", "soon", fp.replace(":", "").lower())
    assert "(empty)" in env.pg.cli("trust", "list", "soon").stdout.decode()
    env.pg.cli("trust", "del", "soon")
    r = env.pg.cli("trust", "list", "soon", check=False)
    assert r.returncode == 1, r
    out = env.pg.cli("trust", "fetch", f"localhost:{env.dovecot.port_plain}", "--starttls").stdout.decode()
    assert "(STLS)" in out and "popgate test CA" in out, out
    r = env.pg.cli("account", "set", "tom/good", "--trust", "nosuch", check=False)
    assert r.returncode == 1 and b"no such trust store" in r.stderr, r.stderr


@test
def help_texts(env):
    for args in (["trust", "--help"], ["account", "set", "--help"], ["account", "test", "--help"]):
        r = peers.run([env.pg.bin] + args)
        out = r.stdout.decode()
        assert "usage: popgate" in out and "-c FILE" in out, (args, out)


@test
def sighup_replaces_own_certificate_without_dropping_a_session(env):
    def served_der():
        p = clients.pop_connect(env.pg.port_tls, "implicit", ctx(env))
        try:
            return p.sock.getpeercert(binary_form=True)
        finally:
            p.quit()

    def der_of(path):
        return ssl.PEM_cert_to_DER_cert(open(path).read())

    assert served_der() == der_of(env.own[0][0])
    p = clients.pop_connect(env.pg.port_tls, "implicit", ctx(env))
    clients.pop_login(p, "tom/good", PW)
    before = p.stat()
    shutil.copy(env.own[1][0], env.own_cert)
    shutil.copy(env.own[1][1], env.own_key)
    os.kill(env.pg.pid, signal.SIGHUP)
    log_has(env, "certificate reloaded")
    assert served_der() == der_of(env.own[1][0]), "SIGHUP did not replace the certificate"
    assert p.stat() == before and p.noop().startswith(b"+OK"), "the open session was dropped"
    p.quit()


@test
def daemon_stops_cleanly(env):
    env.pg.assert_clean_stop()


if __name__ == "__main__":
    peers.main(setup, prefix="popgate-trust-")
