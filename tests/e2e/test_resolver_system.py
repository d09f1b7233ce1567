"""[dns] mode = system: the C library's resolver, answered by a real unbound.

/etc/resolv.conf cannot name a port, so the test runs in its own mount and
network namespace (unshare -mn, as root): a private loopback where unbound
listens on 127.0.0.1:53 and a bind-mounted resolv.conf that points at it.
Nothing outside the namespace is touched.
"""
import os
import shutil
import subprocess
import tempfile

import dohpeers
import tap

POPGATE = os.environ.get("POPGATE", "src/popgate")

SCRIPT = r"""
set -e
ip link set lo up
mount --bind "$T/resolv.conf" /etc/resolv.conf
unbound -d -c "$UNBOUND_CONF" &
UB=$!
trap 'kill $UB' EXIT
i=0
while [ -z "$(dig @127.0.0.1 +short +tries=1 +time=1 pop.mail.test A 2>/dev/null)" ]; do
  i=$((i+1)); [ $i -lt 100 ] || { echo "unbound did not start" >&2; exit 1; }; sleep 0.05
done
shift_run() { echo "== $*"; "$POPGATE" resolve -c "$T/system.ini" "$@" || echo "exit $?"; }
shift_run c1.mail.test nope.mail.test v6only.mail.test
shift_run --type TXT big.mail.test
shift_run --type MX mail.test
shift_run --type PTR ptr.mail.test
shift_run --type AAAA pop.mail.test
shift_run --addrs alias.mail.test nope.mail.test
"""


class Ctx:
    pass


def setup():
    c = Ctx()
    c.tmp = tempfile.mkdtemp(prefix="popgate-sysdns-")
    # unbound's configuration is the shared one, on port 53 of the namespace's
    # loopback; the script below starts it there.
    c.unbound = dohpeers.Unbound(c.tmp, do53_port=53, start=False)
    with open(os.path.join(c.tmp, "resolv.conf"), "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    with open(os.path.join(c.tmp, "system.ini"), "w") as f:
        f.write(f"[general]\nstate_dir = {c.tmp}/var\n[dns]\nmode = system\n")
    env = dict(os.environ, T=c.tmp, POPGATE=POPGATE, UNBOUND_CONF=c.unbound.conf)
    p = subprocess.run(["unshare", "-mn", "sh", "-c", SCRIPT], capture_output=True, text=True,
                       env=env, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"namespace run failed ({p.returncode}): {p.stderr}")
    c.runs = {}
    for block in p.stdout.split("== ")[1:]:
        head, _, body = block.partition("\n")
        c.runs[head] = body.splitlines()
    return c


def teardown(c):
    shutil.rmtree(c.tmp, ignore_errors=True)


@tap.test
def chain_nxdomain_nodata(c):
    assert c.runs["c1.mail.test nope.mail.test v6only.mail.test"] == [
        "c1.mail.test 300 CNAME c2.mail.test",
        "c2.mail.test 300 CNAME c3.mail.test",
        "c3.mail.test 300 CNAME pop.mail.test",
        "pop.mail.test 300 A 192.0.2.10",
        "nope.mail.test A NXDOMAIN",
        "v6only.mail.test A NODATA",
    ], c.runs


@tap.test
def txt_mx_ptr_aaaa(c):
    txt = c.runs["--type TXT big.mail.test"]
    assert len(txt) == 1 and txt[0].startswith('big.mail.test 300 TXT "aaaa') and len(txt[0]) > 200, txt
    assert c.runs["--type MX mail.test"] == ["mail.test 300 MX 10 pop.mail.test"]
    assert c.runs["--type PTR ptr.mail.test"] == ["ptr.mail.test 300 PTR pop.mail.test"]
    assert c.runs["--type AAAA pop.mail.test"] == ["pop.mail.test 300 AAAA 2001:db8::10"]


@tap.test
def addresses_ipv6_first(c):
    assert c.runs["--addrs alias.mail.test nope.mail.test"] == [
        "alias.mail.test 2001:db8::10",
        "alias.mail.test 192.0.2.10",
        "nope.mail.test error: NXDOMAIN",
        "exit 1",
    ], c.runs["--addrs alias.mail.test nope.mail.test"]


tap.run(setup, teardown)
