"""External engines: popgate asks a real SpamAssassin spamd (SPAMC/1.5 over
TCP) and a real rspamd (POST /checkv2) when configured, adds their weights
when they call a message spam (the GTUBE test string), adds nothing for
ham, and carries on without them when they are down or not configured."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import tap

POPGATE = os.environ.get("POPGATE", "src/popgate")
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(ctx, *args, ok=True):
    p = subprocess.run([POPGATE] + list(args) + ["-c", ctx["cfg"]], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise AssertionError("popgate %s: %s" % (" ".join(args), p.stderr))
    return p


def setup():
    if shutil.which("spamd") is None:
        print("1..0 # SKIP spamd is not installed (apt-get install -y spamd spamassassin)")
        raise SystemExit(0)
    d = tempfile.mkdtemp(prefix="popgate-engines-")
    ctx = {"dir": d, "cfg": os.path.join(d, "popgate.ini"), "port": free_port()}
    with open(ctx["cfg"], "w") as f:
        f.write("[general]\nstate_dir = %s/state\n" % d)
    os.chmod(d, 0o755)
    ctx["spamd"] = subprocess.Popen(
        ["spamd", "-L", "-x", "-u", "nobody", "-i", "127.0.0.1", "-p", str(ctx["port"]),
         "--allowed-ips=127.0.0.1", "--max-children=1", "-r", os.path.join(d, "spamd.pid"),
         "-s", os.path.join(d, "spamd.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", ctx["port"]), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > end or ctx["spamd"].poll() is not None:
                teardown(ctx)
                raise RuntimeError("spamd did not start")
            time.sleep(0.2)
    # the port opens before a child is ready: wait for a first real answer
    end = time.monotonic() + 60
    while b"PONG" not in spamd_ping(ctx["port"]):
        if time.monotonic() > end:
            teardown(ctx)
            raise RuntimeError("spamd does not answer")
        time.sleep(0.5)
    start_rspamd(ctx)
    for name, body in (("gtube", GTUBE), ("ham", "See you at the meeting on Tuesday.")):
        p = os.path.join(d, name + ".eml")
        with open(p, "w", newline="") as f:
            f.write("From: someone@example.org\r\nTo: you@example.net\r\nSubject: %s\r\n"
                    "Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n\r\n%s\r\n"
                    % (name, name, body))
        ctx[name] = p
    return ctx


RSPAMD_CONF = """.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "warning";
}
worker "normal" {
    bind_socket = "127.0.0.1:%d";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}
"""


def start_rspamd(ctx):
    """A private rspamd with the packaged rules and one scanner on a free port."""
    if shutil.which("rspamd") is None:
        return
    d = os.path.join(ctx["dir"], "rspamd")
    os.makedirs(os.path.join(d, "local"))
    os.chmod(d, 0o777)
    ctx["rspamd_port"] = free_port()
    conf = os.path.join(d, "rspamd.conf")
    with open(conf, "w") as f:
        f.write(RSPAMD_CONF % ctx["rspamd_port"])
    ctx["rspamd"] = subprocess.Popen(
        ["rspamd", "-f", "-u", "nobody", "-g", "nogroup", "-c", conf, "--var", "RUNDIR=" + d,
         "--var", "LOGDIR=" + d, "--var", "DBDIR=" + d, "--var", "LOCAL_CONFDIR=" + os.path.join(d, "local")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d/checkv2" % ctx["rspamd_port"]
    end = time.monotonic() + 90
    while time.monotonic() < end and ctx["rspamd"].poll() is None:
        try:
            with urllib.request.urlopen(url, data=b"Subject: ping\r\n\r\nping\r\n", timeout=5) as r:
                if r.status == 200:
                    ctx["rspamd_url"] = url
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("rspamd did not start")


def stop(p):
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def spamd_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return s.recv(100)
    except OSError:
        return b""


def teardown(ctx):
    stop(ctx.get("spamd"))
    stop(ctx.get("rspamd"))
    shutil.rmtree(ctx["dir"], ignore_errors=True)


def verdict(ctx, path, *extra):
    out = run(ctx, "classify", "--why", *extra, path).stdout
    _, cls, score, reasons = out.rstrip("\n").split("\t")
    return cls, float(score), json.loads(reasons)


@tap.test
def off_unless_configured(ctx):
    cls, score, reasons = verdict(ctx, ctx["gtube"], "--network")
    assert not [r for r in reasons if r.get("rule") == "spamd"], reasons
    assert score == 0.0, score     # untrained Bayes abstains, no rule hit


@tap.test
def spamd_hit_adds_its_weight(ctx):
    run(ctx, "filter", "set", "spamd", "127.0.0.1:%d" % ctx["port"])
    run(ctx, "filter", "set", "spamd_weight", "0.8")
    run(ctx, "filter", "set", "dns_timeout_ms", "15000")    # the rule deadline; spamd may be slow here
    cls, score, reasons = verdict(ctx, ctx["gtube"], "--network")
    hits = [r for r in reasons if r.get("rule") == "spamd"]
    assert len(hits) == 1, reasons
    assert hits[0]["weight"] == 0.8
    s, req = hits[0]["detail"].split("/")
    assert float(s) >= 1000 and float(req) == 5.0, hits
    assert cls == "spam" and score == 0.8, (cls, score)


@tap.test
def spamd_ham_adds_nothing(ctx):
    cls, score, reasons = verdict(ctx, ctx["ham"], "--network")
    assert not [r for r in reasons if r.get("rule") == "spamd"], reasons
    assert cls == "ham"


@tap.test
def without_network_flag_spamd_is_not_asked(ctx):
    cls, score, reasons = verdict(ctx, ctx["gtube"])
    assert not [r for r in reasons if r.get("rule") == "spamd"], reasons


@tap.test
def dead_spamd_is_no_hit(ctx):
    run(ctx, "filter", "set", "dns_timeout_ms", "2000")
    run(ctx, "filter", "set", "spamd", "127.0.0.1:%d" % free_port())
    t0 = time.monotonic()
    cls, score, reasons = verdict(ctx, ctx["gtube"], "--network")
    assert not [r for r in reasons if r.get("rule") == "spamd"], reasons
    assert time.monotonic() - t0 < 5


@tap.test
def rspamd_hit_adds_its_weight(ctx):
    if "rspamd_url" not in ctx:
        print("# rspamd is not installed: nothing to ask")
        return
    run(ctx, "filter", "set", "spamd", "")
    run(ctx, "filter", "set", "rspamd_url", ctx["rspamd_url"])
    run(ctx, "filter", "set", "rspamd_weight", "0.75")
    run(ctx, "filter", "set", "dns_timeout_ms", "15000")
    cls, score, reasons = verdict(ctx, ctx["gtube"], "--network")
    hits = [r for r in reasons if r.get("rule") == "rspamd"]
    assert len(hits) == 1 and hits[0]["weight"] == 0.75, reasons
    assert cls == "spam" and score == 0.75, (cls, score)
    cls, score, reasons = verdict(ctx, ctx["ham"], "--network")
    assert not [r for r in reasons if r.get("rule") == "rspamd"] and cls == "ham", reasons
    run(ctx, "filter", "set", "rspamd_url", "")


@tap.test
def bad_settings_are_refused(ctx):
    assert run(ctx, "filter", "set", "spamd", "nocolon", ok=False).returncode == 2
    assert run(ctx, "filter", "set", "rspamd_url", "ftp://x/", ok=False).returncode == 2
    run(ctx, "filter", "set", "spamd", "")
    cls, score, reasons = verdict(ctx, ctx["gtube"], "--network")
    assert score == 0.0 and not [r for r in reasons if r.get("rule") == "spamd"], reasons


if __name__ == "__main__":
    tap.run(setup, teardown)
