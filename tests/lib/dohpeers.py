"""Real DNS-over-HTTPS servers for popgate's tests and benchmarks.

Everything listens on 127.0.0.1 on free ports, lives in a temp folder and is
stopped by its PID:
  - make_cert(): a self-signed certificate for doh.test and 127.0.0.1
  - Unbound: realistic answers from an auth-zone (tests/data/mail.test.zone),
    every query logged so a test can count what reached the server
  - Dnsdist: faults on demand (HTTP 503, SERVFAIL, a backend that never
    answers, idle connections closed after idleTimeout)
  - Relay: a TCP relay in front of a server that counts the connections it
    accepts and can freeze them (a half-open connection) or drop them
  - dns_section() / write_config(): popgate's [dns] section (or a whole INI
    file) pointing at them
"""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

HOST = "127.0.0.1"
DOH_NAME = "doh.test"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout}s")


def make_cert(tmp, names=(DOH_NAME,)):
    """Self-signed cert with SAN DNS:names and IP:127.0.0.1; returns (cert, key)."""
    cert, key = os.path.join(tmp, "doh-cert.pem"), os.path.join(tmp, "doh-key.pem")
    san = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", f"/CN={names[0]}",
                    "-addext", f"subjectAltName={san}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def zone_file():
    top = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(__file__), "..", "..")
    return os.path.join(top, "tests", "data", "mail.test.zone")


class _Server:
    proc = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def url(self, host=DOH_NAME):
        return f"https://{host}:{self.port}/dns-query"

    def bootstrap(self):
        return f"{DOH_NAME}:{self.port}:{HOST}"


class Unbound(_Server):
    """unbound serving mail.test. over DoH (HTTP/2) and plain DNS."""

    def __init__(self, tmp, cert=None, key=None, zone=None, max_streams=100, extra_records=(),
                 do53_port=None, start=True):
        """extra_records: zone lines added to the copy, e.g. "upstream IN A 127.0.0.1".
        cert=None serves plain DNS only (port is then None). do53_port picks the
        plain DNS port (53 inside a network namespace of one's own; a free one
        by default). start=False only writes the configuration (self.conf)
        for the caller to run `unbound -d -c CONF` where it needs to."""
        self.dir = os.path.join(tmp, f"unbound-{free_port()}")
        os.makedirs(self.dir)
        self.port = free_port() if cert is not None else None
        self.do53_port = do53_port or free_port()
        self.log = os.path.join(self.dir, "unbound.log")
        shutil.copy(zone or zone_file(), os.path.join(self.dir, "mail.test.zone"))
        if extra_records:
            with open(os.path.join(self.dir, "mail.test.zone"), "a") as f:
                f.write("$TTL 300\n" + "\n".join(extra_records) + "\n")
        doh = ""
        if cert is not None:
            doh = f"""  interface: {HOST}@{self.port}
  https-port: {self.port}
  http-endpoint: "/dns-query"
  http-max-streams: {max_streams}
  tls-service-key: "{key}"
  tls-service-pem: "{cert}"
"""
        conf = self.conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
  interface: {HOST}@{self.do53_port}
  port: {self.do53_port}
{doh}  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  use-syslog: no
  logfile: "{self.log}"
  log-queries: yes
  verbosity: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "test." nodefault
remote-control:
  control-enable: no
auth-zone:
  name: "mail.test."
  zonefile: "{self.dir}/mail.test.zone"
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
""")
        if start:
            self.start()

    def start(self):
        self.proc = subprocess.Popen(["unbound", "-d", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port or self.do53_port, proc=self.proc)
        return self

    def queries(self, name=None):
        """Queries unbound logged so far (for name, if given: 'pop.mail.test')."""
        try:
            with open(self.log, errors="replace") as f:
                lines = [ln for ln in f if " IN" in ln and "info: " in ln]
        except FileNotFoundError:
            return 0
        if name is None:
            return len(lines)
        want = " " + name.rstrip(".") + ". "
        return sum(1 for ln in lines if want in ln)


class Dnsdist(_Server):
    """dnsdist with DoH and rules that produce faults.

    Built-in: http503.mail.test -> HTTP 503; wrongtype.mail.test -> 200 with
    text/plain; fail.mail.test -> SERVFAIL;
    slow.mail.test -> a backend that never answers (dnsdist gives up after
    setUDPTimeout and answers 502); names under ok.mail.test go to
    `backend` (a Do53 "host:port") if given; anything else NXDOMAIN, or
    HTTP 503 when all503 is set. idle_timeout closes idle connections.
    """

    def __init__(self, tmp, cert, key, backend=None, idle_timeout=None, all503=False):
        self.dir = os.path.join(tmp, f"dnsdist-{free_port()}")
        os.makedirs(self.dir)
        self.port = free_port()
        self.do53_port = free_port()
        self.console_port = free_port()
        opts = "reusePort=true"
        if idle_timeout is not None:
            opts += f", idleTimeout={idle_timeout}"
        lines = [
            'setSecurityPollSuffix("")',
            f'setLocal("{HOST}:{self.do53_port}")',
            f'controlSocket("{HOST}:{self.console_port}")',
            f'addDOHLocal("{HOST}:{self.port}", "{cert}", "{key}", "/dns-query", {{{opts}}})',
            'addAction(QNameRule("http503.mail.test."), HTTPStatusAction(503, "busy", "text/plain"))',
            'addAction(QNameRule("wrongtype.mail.test."), HTTPStatusAction(200, "not dns", "text/plain"))',
            'addAction(QNameRule("fail.mail.test."), RCodeAction(DNSRCode.SERVFAIL))',
            f'newServer({{address="{HOST}:{free_port()}", pool="blackhole"}}):setUp()',
            'setUDPTimeout(2)',
            'addAction(QNameRule("slow.mail.test."), PoolAction("blackhole"))',
        ]
        if backend:
            lines.append(f'newServer({{address="{backend}", pool="real"}}):setUp()')
            lines.append('addAction({"ok.mail.test."}, PoolAction("real"))')
        if all503:
            lines.append('addAction(AllRule(), HTTPStatusAction(503, "busy", "text/plain"))')
        lines.append('addAction(AllRule(), RCodeAction(DNSRCode.NXDOMAIN))')
        conf = os.path.join(self.dir, "dnsdist.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.out = open(os.path.join(self.dir, "dnsdist.out"), "w")
        self.proc = subprocess.Popen(["dnsdist", "-C", conf, "--supervised", "--disable-syslog"],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        super().stop()
        self.out.close()


class Relay:
    """TCP relay 127.0.0.1:port -> target_port that counts accepted connections.

    freeze(): existing connections stop moving bytes but stay open (what a
    half-open connection looks like); new ones still work.
    drop_all(): closes every connection. refuse(): stops accepting.
    """

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.lock = threading.Lock()
        self.conns = []         # [client, upstream, frozen flag holder]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection((HOST, self.target))
            except OSError:
                c.close()
                continue
            entry = {"c": c, "u": u, "frozen": False}
            with self.lock:
                self.accepted += 1
                self.conns.append(entry)
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(entry, a, b), daemon=True).start()

    @staticmethod
    def _pump(entry, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                while entry["frozen"]:
                    time.sleep(0.05)
                    if entry.get("dead"):
                        return
                b.sendall(data)
        except OSError:
            pass
        finally:
            if not entry["frozen"]:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def freeze(self):
        with self.lock:
            for e in self.conns:
                e["frozen"] = True

    def drop_all(self):
        with self.lock:
            for e in self.conns:
                e["dead"] = True
                e["frozen"] = False
                for s in (e["c"], e["u"]):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                        s.close()
                    except OSError:
                        pass
            self.conns = []

    def refuse(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept()
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def stop(self):
        self.refuse()
        self.drop_all()


def dns_section(servers, ca_file, timeout_ms=3000, cache_size=10000, method="post"):
    """The [dns] section for servers, a list of (url, bootstrap-or-None);
    e.g. dns_section([(ub.url(), ub.bootstrap())], cert)."""
    out = "[dns]\nmode = doh\n"
    for url, boot in servers:
        out += f"doh_url = {url}\n"
    for url, boot in servers:
        if boot:
            out += f"bootstrap = {boot}\n"
    out += (f"ca_file = {ca_file}\ntimeout_ms = {timeout_ms}\ncache_size = {cache_size}\n"
            f"method = {method}\n")
    return out


def write_config(tmp, servers, ca_file, timeout_ms=3000, cache_size=10000, method="post",
                 name="popgate.ini"):
    """A whole popgate INI file: state_dir in tmp plus dns_section()."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(f"[general]\nstate_dir = {tmp}/var\n\n")
        f.write(dns_section(servers, ca_file, timeout_ms, cache_size, method))
    return path
