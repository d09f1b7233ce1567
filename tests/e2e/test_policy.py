"""Security policy and the command line as a person meets them: plaintext
logins refused without TLS where the policy says so, --help that helps,
configuration errors with their line, upstream passwords sealed at rest."""
import os
import poplib
import socket
import sqlite3
import ssl
import subprocess

import peers
from peers import test

PW = "policy local pw"


def setup(env):
    env.pg = env.add(peers.Popgate(env.dir, extra={"pop3": {"plaintext_loopback": "no"}}))
    env.pg.user_add("carol", PW)
    env.pg.start()


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


@test
def plaintext_login_refused_without_tls(env):
    p = poplib.POP3("127.0.0.1", env.pg.port, timeout=10)
    caps = p.capa()
    assert "STLS" in caps, caps
    assert "USER" not in caps and "SASL" not in caps, f"CAPA offers plaintext login: {caps}"
    try:
        p.user("carol")
        raise AssertionError("USER accepted on a plaintext connection")
    except poplib.error_proto as e:
        assert b"[AUTH]" in e.args[0] and b"STLS" in e.args[0], e.args[0]
    try:
        p._shortcmd("AUTH PLAIN AGNhcm9sAHBvbGljeSBsb2NhbCBwdw==")
        raise AssertionError("AUTH PLAIN accepted on a plaintext connection")
    except poplib.error_proto as e:
        assert b"[AUTH]" in e.args[0], e.args[0]
    p.quit()


@test
def same_login_works_after_stls(env):
    p = poplib.POP3("127.0.0.1", env.pg.port, timeout=10)
    p.stls(ctx())
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps, caps
    p.user("carol")
    assert p.pass_(PW).startswith(b"+OK")
    assert p.stat() == (0, 0)
    p.quit()


@test
def same_login_works_on_implicit_tls(env):
    p = poplib.POP3_SSL("127.0.0.1", env.pg.port_tls, context=ctx(), timeout=10)
    p.user("carol")
    assert p.pass_(PW).startswith(b"+OK")
    p.quit()


@test
def help_lists_every_command(env):
    out = subprocess.run([env.pg.bin, "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("serve", "check-config", "user", "account", "list"):
        assert f"  {cmd} " in out, f"--help does not mention {cmd}:\n{out}"
    r = subprocess.run([env.pg.bin, "account", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--password-file" in r.stdout and "995" in r.stdout, r.stdout
    r = subprocess.run([env.pg.bin, "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stderr, r.stderr


@test
def check_config_reports_line_numbers(env):
    path = os.path.join(env.dir, "bad.ini")
    with open(path, "w") as f:
        f.write("[general]\nstate_dir = /tmp/x\n\n[sync]\ninterval = soon\n")
    r = subprocess.run([env.pg.bin, "check-config", "-c", path], capture_output=True, text=True)
    assert r.returncode != 0, r
    assert f"{path}:5:" in r.stderr and "interval" in r.stderr, r.stderr
    r = subprocess.run([env.pg.bin, "check-config", "-c", env.pg.config], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "configuration OK", (r.stdout, r.stderr)


@test
def upstream_password_is_sealed_at_rest(env):
    secret = "very-distinct-upstream-secret-4711"
    env.pg.account_add("mail", "carol", "localhost", 995, "carol@example.org", secret)
    db = os.path.join(env.pg.state_dir, "popgate.db")
    blob = open(db, "rb").read() + b"".join(
        open(os.path.join(env.pg.state_dir, f), "rb").read()
        for f in os.listdir(env.pg.state_dir) if f.startswith("popgate.db-"))
    assert secret.encode() not in blob, "upstream password stored in plaintext"
    key = os.path.join(env.pg.state_dir, "secret.key")
    assert os.stat(key).st_mode & 0o777 == 0o600, oct(os.stat(key).st_mode)
    row = sqlite3.connect(db).execute("SELECT pwhash FROM users WHERE name='carol'").fetchone()
    assert row[0].startswith("$scrypt$") and PW not in row[0], row
    out = env.pg.cli("account", "list").stdout.decode()
    assert secret not in out and "carol/mail" in out, out
    assert secret not in env.pg.log(), "upstream password in the log"


@test
def state_files_are_private(env):
    for f in os.listdir(env.pg.state_dir):
        mode = os.stat(os.path.join(env.pg.state_dir, f)).st_mode & 0o777
        assert mode & 0o077 == 0, f"{f} is mode {oct(mode)}"


if __name__ == "__main__":
    peers.main(setup)
