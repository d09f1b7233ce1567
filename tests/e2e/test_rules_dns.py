"""DNSBL and URIBL through popgate's DoH resolver against a test zone served
by unbound over HTTP/2: the first external relay (past the trusted networks)
is looked up reversed in the DNSBL zone, each URL's registered domain in the
URIBL zone; listings add their weights, NXDOMAIN and NODATA add nothing, and
the lookups really reached the DoH server."""
import json
import os
import shutil
import subprocess
import tempfile

import dohpeers
import tap

POPGATE = os.environ.get("POPGATE", "src/popgate")
TOP = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", ".."))


def message(relay_ip, url, helo="dsl.bad.example"):
    return ("Received: from localhost (localhost [127.0.0.1]) by mail.home.example (Postfix)\r\n"
            "Received: from mx.isp.example (mx.isp.example [203.0.113.5]) by mail.home.example\r\n"
            f"Received: from {helo} ({helo} [{relay_ip}]) by mx.isp.example with SMTP\r\n"
            "From: seller@shop.example\r\nTo: you@home.example\r\nSubject: offer\r\n"
            "Message-ID: <1@shop.example>\r\n\r\n"
            f"Have a look at {url} today.\r\n")


class Ctx:
    pass


def setup():
    c = Ctx()
    c.tmp = tempfile.mkdtemp(prefix="popgate-rules-dns-")
    c.cert, c.key = dohpeers.make_cert(c.tmp)
    c.unbound = dohpeers.Unbound(c.tmp, c.cert, c.key,
                                 zone=os.path.join(TOP, "tests", "data", "filter-rules.zone"))
    c.cfg = dohpeers.write_config(c.tmp, [(c.unbound.url(), c.unbound.bootstrap())], c.cert)
    c.files = {}
    for name, ip, url in (("listed", "198.51.100.77", "http://www.spammy.example/buy"),
                          ("clean", "192.0.2.44", "https://www.clean.example/"),
                          ("uk", "192.0.2.44", "http://shop.evil.co.uk/x"),
                          ("v6", "IPv6:2001:db8::bad", "http://nothing.example/")):
        p = os.path.join(c.tmp, name + ".eml")
        with open(p, "w", newline="") as f:
            f.write(message(ip, url))
        c.files[name] = p
    popgate(c, "filter", "set", "dnsbl_zones", "dnsbl.mail.test")
    popgate(c, "filter", "set", "uribl_zones", "uribl.mail.test")
    popgate(c, "filter", "set", "dns_timeout_ms", "5000")
    # the provider's MX is ours to trust: the relay it received from is the one to judge
    popgate(c, "filter", "set", "trusted_networks", "203.0.113.0/24")
    return c


def teardown(c):
    c.unbound.stop()
    shutil.rmtree(c.tmp, ignore_errors=True)


def popgate(c, *args):
    p = subprocess.run([POPGATE] + list(args) + ["-c", c.cfg], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("popgate %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


def classify(c, name):
    out = popgate(c, "classify", "--why", "--network", c.files[name])
    _, cls, score, reasons = out.rstrip("\n").split("\t")
    rules = sorted((r["rule"], r["detail"]) for r in json.loads(reasons) if "rule" in r)
    return cls, float(score), rules


@tap.test
def listed_relay_and_domain_hit(C):
    cls, score, rules = classify(C, "listed")
    assert rules == [("dnsbl", "dnsbl.mail.test:198.51.100.77"),
                     ("uribl", "uribl.mail.test:spammy.example")], rules
    assert abs(score - 0.6) < 1e-9 and cls == "unsure", (cls, score)
    assert C.unbound.queries("77.100.51.198.dnsbl.mail.test") >= 1, "the DNSBL lookup went over DoH"
    assert C.unbound.queries("spammy.example.uribl.mail.test") >= 1


@tap.test
def unlisted_gives_nothing(C):
    cls, score, rules = classify(C, "clean")
    assert rules == [] and score == 0.0 and cls == "ham", (cls, score, rules)
    # NODATA (a TXT but no A) is not a listing either
    assert C.unbound.queries("clean.example.uribl.mail.test") >= 1


@tap.test
def registered_domain_under_country_code(C):
    cls, score, rules = classify(C, "uk")
    assert rules == [("uribl", "uribl.mail.test:evil.co.uk")], rules


@tap.test
def ipv6_relay_nibbles(C):
    cls, score, rules = classify(C, "v6")
    assert rules == [("dnsbl", "dnsbl.mail.test:2001:db8::bad")], rules


@tap.test
def trusted_network_moves_past_the_relay(C):
    # without trusting the provider, its MX (unlisted) is the first external relay
    popgate(C, "filter", "unset", "trusted_networks")
    try:
        cls, score, rules = classify(C, "listed")
        assert ("uribl", "uribl.mail.test:spammy.example") in rules
        assert not [r for r in rules if r[0] == "dnsbl"], rules
        assert C.unbound.queries("5.113.0.203.dnsbl.mail.test") >= 1
    finally:
        popgate(C, "filter", "set", "trusted_networks", "203.0.113.0/24")


@tap.test
def weights_are_settings(C):
    popgate(C, "filter", "set", "dnsbl_weight", "0.5")
    popgate(C, "filter", "set", "uribl_weight", "0.25")
    cls, score, rules = classify(C, "listed")
    assert abs(score - 0.75) < 1e-9 and cls == "spam", (cls, score)


@tap.test
def zones_off_means_no_lookups(C):
    popgate(C, "filter", "set", "dnsbl_zones", "")
    popgate(C, "filter", "set", "uribl_zones", "")
    before = C.unbound.queries()
    cls, score, rules = classify(C, "listed")
    assert rules == [] and C.unbound.queries() == before, rules


if __name__ == "__main__":
    tap.run(setup, teardown)
