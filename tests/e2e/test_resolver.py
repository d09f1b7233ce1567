"""popgate's DoH resolver against real DoH servers on loopback.

unbound gives the answers (A, AAAA, CNAME chains, NXDOMAIN, NODATA, a big
TXT); dnsdist gives the faults (HTTP 503, SERVFAIL, a backend that never
answers, idle connections closed by the server). A counting TCP relay in
front of unbound shows how many connections popgate really opened, and
unbound's query log shows which lookups reached the server.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import dohpeers
import tap

POPGATE = os.environ.get("POPGATE", "src/popgate")


class Ctx:
    pass


def setup():
    c = Ctx()
    c.tmp = tempfile.mkdtemp(prefix="popgate-resolver-")
    c.cert, c.key = dohpeers.make_cert(c.tmp)
    c.unbound = dohpeers.Unbound(c.tmp, c.cert, c.key)
    c.dnsdist = dohpeers.Dnsdist(c.tmp, c.cert, c.key,
                                 backend=f"127.0.0.1:{c.unbound.do53_port}", idle_timeout=2)
    c.cfg = dohpeers.write_config(c.tmp, [(c.unbound.url(), c.unbound.bootstrap())], c.cert,
                                  name="unbound.ini")
    c.fault = dohpeers.write_config(c.tmp, [(c.dnsdist.url(), c.dnsdist.bootstrap())], c.cert,
                                    timeout_ms=1500, name="dnsdist.ini")
    c.n = 0
    return c


def teardown(c):
    c.dnsdist.stop()
    c.unbound.stop()
    shutil.rmtree(c.tmp, ignore_errors=True)


def resolve(cfg, *args, timeout=60):
    p = subprocess.run([POPGATE, "resolve", "-c", cfg] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def stats(out):
    """The --stats lines as a dict (last line plus the 'stats:' line)."""
    d = {}
    for line in out.splitlines():
        if line.startswith("stats: ") or line.startswith("queries="):
            for kv in line.replace("stats: ", "").split():
                k, v = kv.split("=", 1)
                d[k] = int(v) if v.isdigit() else v
    return d


def relay_config(c, relay, **kw):
    c.n += 1
    return dohpeers.write_config(c.tmp, [(f"https://doh.test:{relay.port}/dns-query",
                                          f"doh.test:{relay.port}:127.0.0.1")],
                                 c.cert, name=f"relay{c.n}.ini", **kw)


class Session:
    """popgate resolve reading names from stdin: one process, one resolver."""

    def __init__(self, cfg, *args):
        self.p = subprocess.Popen([POPGATE, "resolve", "-c", cfg] + list(args) + ["-"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, name):
        self.p.stdin.write(name + "\n")
        self.p.stdin.flush()
        lines = []
        while True:
            line = self.p.stdout.readline()
            assert line, "popgate resolve exited: " + self.p.stderr.read()
            lines.append(line.rstrip("\n"))
            # The last line of an answer is the record of the asked type, or a status.
            if re.search(r" (A|AAAA|TXT) ", line) and not line.split()[2:3] == ["CNAME"]:
                return lines
            if "NXDOMAIN" in line or "NODATA" in line or "error:" in line:
                return lines

    def stats(self):
        self.p.stdin.write("!stats\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline() + self.p.stdout.readline()
        return stats(out)

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=10)
        self.p.stdout.close()
        self.p.stderr.close()
        return rc


# Answers (unbound).

@tap.test
def a_and_aaaa(c):
    rc, out, err = resolve(c.cfg, "pop.mail.test")
    assert rc == 0, err
    assert out == "pop.mail.test 300 A 192.0.2.10\n", out
    rc, out, err = resolve(c.cfg, "--type", "AAAA", "POP.mail.test.")
    assert rc == 0 and out == "pop.mail.test 300 AAAA 2001:db8::10\n", out + err


@tap.test
def cname_chain(c):
    rc, out, err = resolve(c.cfg, "c1.mail.test")
    assert rc == 0, err
    assert out.splitlines() == [
        "c1.mail.test 300 CNAME c2.mail.test",
        "c2.mail.test 300 CNAME c3.mail.test",
        "c3.mail.test 300 CNAME pop.mail.test",
        "pop.mail.test 300 A 192.0.2.10",
    ], out


@tap.test
def cname_loop_is_an_error(c):
    rc, out, err = resolve(c.cfg, "loop1.mail.test")
    assert rc == 1 and "error: CNAME loop" in out, out


@tap.test
def nxdomain(c):
    rc, out, err = resolve(c.cfg, "nope.mail.test")
    assert rc == 0 and out == "nope.mail.test A NXDOMAIN\n", out + err


@tap.test
def nodata(c):
    rc, out, err = resolve(c.cfg, "v6only.mail.test")
    assert rc == 0 and out == "v6only.mail.test A NODATA\n", out + err
    rc, out, err = resolve(c.cfg, "--type", "AAAA", "v6only.mail.test")
    assert out == "v6only.mail.test 300 AAAA 2001:db8::20\n", out


@tap.test
def big_txt(c):
    rc, out, err = resolve(c.cfg, "--type", "TXT", "huge.mail.test")
    assert rc == 0, err
    lines = sorted(out.splitlines(), key=len)
    assert lines[0] == 'huge.mail.test 300 TXT "second record"', lines[0]
    want = "".join(chr(ord("a") + i % 26) * 250 for i in range(12))
    assert lines[1] == f'huge.mail.test 300 TXT "{want}"', lines[1][:120]


@tap.test
def mx_and_ptr(c):
    rc, out, err = resolve(c.cfg, "--type", "MX", "mail.test")
    assert out == "mail.test 300 MX 10 pop.mail.test\n", out + err
    rc, out, err = resolve(c.cfg, "--type", "PTR", "ptr.mail.test")
    assert out == "ptr.mail.test 300 PTR pop.mail.test\n", out + err


@tap.test
def get_method(c):
    cfg = dohpeers.write_config(c.tmp, [(c.unbound.url(), c.unbound.bootstrap())], c.cert,
                                method="get", name="get.ini")
    rc, out, err = resolve(cfg, "alias.mail.test")
    assert rc == 0 and out.splitlines()[-1] == "pop.mail.test 300 A 192.0.2.10", out + err


@tap.test
def addresses_ipv6_first(c):
    rc, out, err = resolve(c.cfg, "--addrs", "alias.mail.test", "v6only.mail.test",
                           "nope.mail.test", "127.0.0.1")
    assert out.splitlines() == [
        "alias.mail.test 2001:db8::10",
        "alias.mail.test 192.0.2.10",
        "v6only.mail.test 2001:db8::20",
        "nope.mail.test error: NXDOMAIN",
        "127.0.0.1 127.0.0.1",
    ], out + err


@tap.test
def system_mode_still_works(c):
    cfg = os.path.join(c.tmp, "system.ini")
    with open(cfg, "w") as f:
        f.write(f"[general]\nstate_dir = {c.tmp}/var\n[dns]\nmode = system\n")
    rc, out, err = resolve(cfg, "--addrs", "localhost", "::1")
    assert rc == 0 and "localhost 127.0.0.1" in out and "::1 ::1" in out, out + err


# Connections and the cache.

@tap.test
def two_hundred_lookups_one_connection(c):
    names = [f"n{i}.many.mail.test" for i in range(200)]
    for mode in ([], ["--threads", "200"]):
        relay = dohpeers.Relay(c.unbound.port)
        try:
            rc, out, err = resolve(relay_config(c, relay), "--stats", *mode, *names)
        finally:
            relay.stop()
        assert rc == 0, err
        answers = [ln for ln in out.splitlines() if " A 192.0.2.99" in ln]
        assert len(answers) == 200, out[-500:]
        s = stats(out)
        assert s["queries"] == 200 and s["failures"] == 0, s
        assert s["connections_opened"] == 1, s
        assert relay.accepted == 1, f"{mode}: relay saw {relay.accepted} connections"


@tap.test
def cached_lookups_do_not_reach_the_server(c):
    names = [f"cache{i}.many.mail.test" for i in range(50)] + ["gone.mail.test"]
    before = c.unbound.queries("gone.mail.test")
    rc, out, err = resolve(c.cfg, "--stats", "--repeat", "3", *names)
    assert rc == 0, err
    s = stats(out)
    assert s["queries"] == 153 and s["cache_hits"] == 102, s
    assert s["upstream_queries"] == 51, s
    time.sleep(0.2)
    for n in ("cache0.many.mail.test", "cache49.many.mail.test"):
        assert c.unbound.queries(n) == 1, f"{n} reached unbound {c.unbound.queries(n)} times"
    assert c.unbound.queries("gone.mail.test") == before + 1, "NXDOMAIN was not cached"


@tap.test
def identical_lookups_share_one_query(c):
    rc, out, err = resolve(c.cfg, "--stats", *(["twin.many.mail.test"] * 20))
    assert rc == 0, err
    s = stats(out)
    assert s["upstream_queries"] == 1 and s["coalesced"] == 19, s
    time.sleep(0.2)
    assert c.unbound.queries("twin.many.mail.test") == 1


# Faults (dnsdist).

@tap.test
def http_503(c):
    rc, out, err = resolve(c.fault, "http503.mail.test")
    assert rc == 1 and out == "http503.mail.test A error: HTTP 503\n", out + err


@tap.test
def wrong_content_type(c):
    rc, out, err = resolve(c.fault, "wrongtype.mail.test")
    assert rc == 1 and out == "wrongtype.mail.test A error: DoH reply is not application/dns-message\n", \
        out + err


@tap.test
def servfail(c):
    rc, out, err = resolve(c.fault, "fail.mail.test")
    assert rc == 1 and out == "fail.mail.test A error: SERVFAIL\n", out + err


@tap.test
def backend_never_answers(c):
    s = Session(c.fault, "--stats", "--timeout", "1000")
    t0 = time.monotonic()
    lines = s.ask("slow.mail.test")
    took = time.monotonic() - t0
    assert lines == ["slow.mail.test A error: timeout"], lines
    assert took < 2.0, f"timeout took {took:.2f}s"
    # The connection is still good for the next query.
    assert s.ask("x.ok.mail.test") == ["x.ok.mail.test 300 A 192.0.2.77"]
    st = s.stats()
    assert st["connections_opened"] == 1, st
    assert s.close() == 1


@tap.test
def idle_connection_closed_by_server(c):
    s = Session(c.fault, "--stats")
    assert s.ask("a.ok.mail.test") == ["a.ok.mail.test 300 A 192.0.2.77"]
    time.sleep(3.5)    # dnsdist closes after idleTimeout=2
    assert s.ask("b.ok.mail.test") == ["b.ok.mail.test 300 A 192.0.2.77"]
    st = s.stats()
    assert st["connections_opened"] == 2 and st["failures"] == 0, st
    assert s.close() == 0


# Several servers.

@tap.test
def first_server_failing_moves_to_second(c):
    bad = dohpeers.Dnsdist(c.tmp, c.cert, c.key, all503=True)
    try:
        cfg = dohpeers.write_config(c.tmp, [(bad.url(), bad.bootstrap()),
                                            (c.unbound.url(), c.unbound.bootstrap())],
                                    c.cert, name="failover.ini")
        s = Session(cfg, "--stats")
        assert s.ask("f1.many.mail.test") == ["f1.many.mail.test 300 A 192.0.2.99"]
        st = s.stats()
        assert st["upstream_failures"] == 1 and st["current"] == c.unbound.url(), st
        # The failed server is backed off: the next lookup goes straight to the second.
        assert s.ask("f2.many.mail.test") == ["f2.many.mail.test 300 A 192.0.2.99"]
        st = s.stats()
        assert st["upstream_failures"] == 1 and st["upstream_queries"] == 3, st
        assert s.close() == 0
    finally:
        bad.stop()
    # A server that refuses connections.
    dead = dohpeers.free_port()
    cfg = dohpeers.write_config(c.tmp, [(f"https://doh.test:{dead}/dns-query", f"doh.test:{dead}:127.0.0.1"),
                                        (c.unbound.url(), c.unbound.bootstrap())],
                                c.cert, name="failover2.ini")
    rc, out, err = resolve(cfg, "--stats", "f3.many.mail.test")
    assert rc == 0 and out.startswith("f3.many.mail.test 300 A 192.0.2.99\n"), out + err


@tap.test
def stalled_connection_is_reset(c):
    relay = dohpeers.Relay(c.unbound.port)
    try:
        s = Session(relay_config(c, relay), "--stats", "--timeout", "1500")
        assert s.ask("s1.many.mail.test") == ["s1.many.mail.test 300 A 192.0.2.99"]
        relay.freeze()      # the connection stays open but nothing comes back
        for i in (2, 3, 4):
            assert s.ask(f"s{i}.many.mail.test") == [f"s{i}.many.mail.test A error: timeout"]
        assert s.ask("s5.many.mail.test") == ["s5.many.mail.test 300 A 192.0.2.99"]
        st = s.stats()
        assert st["resets"] == 1 and st["connections_opened"] == 2, st
        assert relay.accepted == 2
        s.close()
    finally:
        relay.stop()


@tap.test
def stale_answer_when_server_is_gone(c):
    relay = dohpeers.Relay(c.unbound.port)
    try:
        s = Session(relay_config(c, relay, timeout_ms=800), "--stats")
        assert s.ask("short.mail.test") == ["short.mail.test 1 A 192.0.2.50"]
        relay.stop()
        time.sleep(5.5)     # past the TTL (1 s, raised to the 5 s floor)
        assert s.ask("short.mail.test") == ["short.mail.test 30 A 192.0.2.50"]
        st = s.stats()
        assert st["stale_hits"] == 1, st
        line = s.ask("other.many.mail.test")[0]
        assert "error: Failed to connect to doh.test port" in line, line
        s.close()
    finally:
        relay.stop()


@tap.test
def doh_mode_never_touches_the_system_resolver(c):
    trace = os.path.join(c.tmp, "strace.out")
    # LeakSanitizer cannot run under ptrace (an --enable-asan build).
    env = dict(os.environ, ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":"))
    p = subprocess.run(["strace", "-f", "-e", "trace=connect,openat,open", "-o", trace, POPGATE,
                        "resolve", "-c", c.cfg, "--addrs", "pop.mail.test"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.stdout == "pop.mail.test 2001:db8::10\npop.mail.test 192.0.2.10\n", p.stdout + p.stderr
    with open(trace) as f:
        calls = f.read().splitlines()
    files = [ln for ln in calls if re.search(r"/etc/(resolv\.conf|hosts|nsswitch\.conf|gai\.conf)", ln)]
    assert not files, files
    connects = [ln for ln in calls if "connect(" in ln]
    assert len(connects) == 1 and f"htons({c.unbound.port})" in connects[0], connects


# Configuration mistakes.

@tap.test
def doh_host_needs_bootstrap(c):
    cfg = dohpeers.write_config(c.tmp, [(c.unbound.url(), None)], c.cert, name="noboot.ini")
    rc, out, err = resolve(cfg, "pop.mail.test")
    assert rc == 1 and "has no bootstrap entry" in err, err


@tap.test
def wrong_ca_is_refused(c):
    other = os.path.join(c.tmp, "other")
    os.makedirs(other)
    cert, _ = dohpeers.make_cert(other)
    cfg = dohpeers.write_config(c.tmp, [(c.unbound.url(), c.unbound.bootstrap())], cert,
                                name="wrongca.ini")
    rc, out, err = resolve(cfg, "pop.mail.test")
    assert rc == 1 and "error:" in out and "192.0.2.10" not in out, out
    assert "SSL certificate problem" in out, out


tap.run(setup, teardown)
