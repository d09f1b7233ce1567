"""Real peers for popgate's end-to-end tests and benchmarks.

Everything here starts real software on 127.0.0.1 in a temporary folder, on
ports picked free at run time, and stops what it started by its PID (never by
name): a test CA and certificates (openssl CLI), Dovecot as the upstream POP3
server, stunnel as a TLS front capped at a TLS version, and popgate itself.
Python 3 stdlib only.

A test file builds one Env in its setup(env), shares it across its tests,
and registers them with @peers.test (a failure prints the peers' logs);
peers.main(setup) runs them. To run one file by hand:

    PYTHONPATH=tests/lib POPGATE=src/popgate python3 tests/e2e/test_clients.py

POPGATE_KEEP_TMP=1 keeps the temp folder (configs, logs, maildirs).
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import mailgen
import tap

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- utilities

_given_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on, never the same twice
    in one process (two fixtures asking in a row must not collide)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise RuntimeError("no free port")


def wait_until(cond, timeout=10.0, interval=0.02, what="condition"):
    """Polls cond() until it returns something true; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, host="127.0.0.1", timeout=15.0, proc=None, what=None):
    """Waits until something accepts on host:port; fails early if proc died."""
    def ready():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or 'process'} exited with {proc.returncode} "
                               f"before listening on port {port}")
        return port_open(port, host)
    wait_until(ready, timeout, what=what or f"port {port}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid, timeout=10.0, proc=None):
    """SIGTERM, then SIGKILL after timeout. Returns True if SIGTERM sufficed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return True
        elif not pid_alive(pid):
            return True
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait()
    return False


def run(cmd, check=True, input=None, env=None, timeout=60, cwd=None):
    """Runs a command, capturing output; a failure shows what it printed."""
    r = subprocess.run(cmd, input=input, capture_output=True, env=env,
                       timeout=timeout, cwd=cwd)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {r.returncode}\n"
                           f"stdout: {r.stdout.decode(errors='replace')}\n"
                           f"stderr: {r.stderr.decode(errors='replace')}")
    return r


def tempdir(prefix="popgate-e2e-"):
    """A temp folder that Dovecot's unprivileged processes can enter."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def write_file(path, data, mode=0o644):
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def chown_tree(top, user, group):
    for root, dirs, files in os.walk(top):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            shutil.chown(n, user, group)


def popgate_binary():
    """$POPGATE, else the build made by ./build.sh (build/), else an
    in-tree build."""
    p = os.environ.get("POPGATE")
    if p:
        return p
    top = os.environ.get("top_builddir")
    if top:
        return os.path.abspath(os.path.join(top, "src", "popgate"))
    src = os.path.abspath(os.path.join(HERE, "..", ".."))
    for cand in (os.path.join(src, "build", "src", "popgate"), os.path.join(src, "src", "popgate")):
        if os.path.exists(cand):
            return cand
    return os.path.join(src, "src", "popgate")


# ------------------------------------------------------------- certificates

class CA:
    """A test certificate authority made with the openssl CLI.

    issue() signs server certificates (SAN DNS:localhost, IP:127.0.0.1 and
    DNS:pop.mail.test by default); expired=True gives one whose validity ended
    in the past; self_signed() makes a certificate nobody vouches for.
    """

    def __init__(self, directory, name="popgate test CA"):
        self.dir = os.path.join(directory, "ca")
        os.makedirs(os.path.join(self.dir, "newcerts"), exist_ok=True)
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca-key.pem")
        write_file(os.path.join(self.dir, "index.txt"), "")
        write_file(os.path.join(self.dir, "serial"), "1000\n")
        self.cnf = write_file(os.path.join(self.dir, "ca.cnf"), f"""\
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = {self.dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
""")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "3650",
             "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self._n = 0

    def issue(self, name="localhost", sans=None, expired=False, days=365):
        """Returns (cert_path, key_path) for a server cert signed by this CA."""
        if sans is None:
            sans = ["DNS:localhost", "IP:127.0.0.1", "DNS:pop.mail.test"]
        self._n += 1
        base = os.path.join(self.dir, f"{name}-{self._n}")
        key, csr, cert = base + "-key.pem", base + ".csr", base + ".pem"
        ext = write_file(base + ".ext",
                         "basicConstraints=CA:FALSE\n"
                         "keyUsage=critical,digitalSignature,keyEncipherment\n"
                         "extendedKeyUsage=serverAuth\n"
                         f"subjectAltName={','.join(sans)}\n")
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}"])
        if expired:
            dates = ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"]
        else:
            dates = ["-startdate", time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() - 3600)),
                     "-days", str(days)]
        run(["openssl", "ca", "-batch", "-notext", "-config", self.cnf, "-cert", self.cert,
             "-keyfile", self.key, "-in", csr, "-out", cert, "-extfile", ext] + dates)
        return cert, key

    def wrong_name(self):
        """A valid cert from this CA for a name that is not the server's."""
        return self.issue("wrong.example", sans=["DNS:wrong.example"])

    def expired(self):
        return self.issue("localhost", expired=True)


def self_signed(directory, name="localhost", sans=None):
    """(cert_path, key_path) of a self-signed server certificate."""
    if sans is None:
        sans = ["DNS:localhost", "IP:127.0.0.1", "DNS:pop.mail.test"]
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, f"selfsigned-{name}.pem")
    key = os.path.join(directory, f"selfsigned-{name}-key.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "365", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName={','.join(sans)}"])
    return cert, key


# ------------------------------------------------------------------ Dovecot

class Dovecot:
    """Dovecot POP3 (maildir) as the upstream mailbox provider.

    users: {login: password}. Plain port (STLS) is port_plain, implicit TLS
    is port_tls. Messages are put straight into the maildir; upstream() reads
    what is still there, which is how tests see what popgate deleted.

    ssl_min_protocol="TLSv1.3" gives a TLS-1.3-only server; auth_mechanisms
    may add "apop"; plaintext_auth=False refuses logins before STLS (Dovecot's
    disable_plaintext_auth); auth_failure_delay (seconds) replaces Dovecot's
    2 s pause after a wrong password.
    """

    def __init__(self, directory, cert, key, users=None, ssl_min_protocol="TLSv1.2",
                 auth_mechanisms="plain login", plaintext_auth=True, auth_failure_delay=None):
        self.dir = os.path.join(directory, "dovecot")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.cert, self.key = cert, key
        self.users = dict(users or {"alice@pop.test": "secret"})
        self.ssl_min_protocol = ssl_min_protocol
        self.auth_mechanisms = auth_mechanisms
        self.plaintext_auth = plaintext_auth
        self.auth_failure_delay = auth_failure_delay
        self.port_plain = free_port()
        self.port_tls = free_port()
        self.pid = None
        self._seq = 0
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self._write_users()
        for u in self.users:
            self._make_maildir(u)
        self.conf = write_file(os.path.join(self.dir, "dovecot.conf"), self._config())

    def _config(self):
        d = self.dir
        delay = ""
        if self.auth_failure_delay is not None:
            delay = f"auth_failure_delay = {self.auth_failure_delay}\n"
        return f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
ssl_min_protocol = {self.ssl_min_protocol}
disable_plaintext_auth = {"no" if self.plaintext_auth else "yes"}
auth_mechanisms = {self.auth_mechanisms}
{delay}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home/%u
}}
mail_location = maildir:{d}/home/%u/Maildir
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
service pop3-login {{
  inet_listener pop3 {{
    port = {self.port_plain}
  }}
  inet_listener pop3s {{
    port = {self.port_tls}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
pop3_uidl_format = %08Xu%08Xv
"""

    def _write_users(self):
        path = os.path.join(self.dir, "users")
        write_file(path + ".new", "".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        os.rename(path + ".new", path)

    def maildir(self, user):
        return os.path.join(self.dir, "home", user, "Maildir")

    def _make_maildir(self, user):
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.maildir(user), sub), exist_ok=True)
        self._chown(os.path.join(self.dir, "home", user))

    @staticmethod
    def _chown(top):
        chown_tree(top, "nobody", "nogroup")

    def add_user(self, user, password):
        """Adds a login while Dovecot runs (it rereads the users file)."""
        self.users[user] = password
        self._make_maildir(user)
        self._write_users()
        # Dovecot looks at the file's mtime at most once a second.
        time.sleep(1.05 - time.time() % 1)

    def add_message(self, user, data):
        """Delivers raw bytes to user's maildir (tmp/ then rename into new/)."""
        self._seq += 1
        name = f"{int(time.time())}.P{os.getpid()}Q{self._seq}.popgate-test"
        md = self.maildir(user)
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        shutil.chown(tmp, "nobody", "nogroup")
        os.rename(tmp, os.path.join(md, "new", name))
        return name

    def upstream(self, user):
        """The raw messages still in user's mailbox, in cur/ and new/."""
        out = []
        md = self.maildir(user)
        for sub in ("cur", "new"):
            d = os.path.join(md, sub)
            for n in sorted(os.listdir(d)):
                try:
                    with open(os.path.join(d, n), "rb") as f:
                        out.append(f.read())
                except FileNotFoundError:
                    pass    # renamed new/ -> cur/ while we looked; seen in cur/
        return out

    def assert_holds(self, user, msgs, what=""):
        """Asserts user's mailbox holds exactly msgs, byte for byte."""
        have = self.upstream(user)
        if sorted(have) != sorted(msgs):
            h = sorted(mailgen.message_id(m) or "?" for m in have)
            w = sorted(mailgen.message_id(m) or "?" for m in msgs)
            raise AssertionError(f"{what or user} upstream: holds {len(have)} messages, want "
                                 f"{len(msgs)}; missing {sorted(set(w) - set(h))}, "
                                 f"unexpected {sorted(set(h) - set(w))}")

    def clear(self, user):
        md = self.maildir(user)
        for sub in ("cur", "new"):
            for n in os.listdir(os.path.join(md, sub)):
                os.unlink(os.path.join(md, sub, n))

    def start(self):
        # dovecot daemonizes; its children must not inherit our pipes.
        with open(os.path.join(self.dir, "start.log"), "wb") as out:
            r = subprocess.run(["dovecot", "-c", self.conf], stdout=out, stderr=out,
                               stdin=subprocess.DEVNULL, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot exited {r.returncode}: "
                               + open(os.path.join(self.dir, "start.log")).read())
        pidfile = os.path.join(self.dir, "run", "master.pid")
        wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(),
                   10, what="dovecot master.pid")
        self.pid = int(open(pidfile).read().strip())
        wait_port(self.port_plain, what="dovecot")
        wait_port(self.port_tls, what="dovecot")
        return self

    def stop(self):
        if self.pid is not None:
            stop_pid(self.pid)
            self.pid = None

    def _tree(self):
        """PIDs of the master and all its descendants."""
        parent = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        tree, grew = {self.pid}, True
        while grew:
            new = {p for p, pp in parent.items() if pp in tree} - tree
            grew = bool(new)
            tree |= new
        return tree

    def pause(self):
        """SIGSTOP to every Dovecot process: a server that accepts
        connections (the kernel does) but never answers."""
        for pid in self._tree():
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass    # a short-lived child that ended meanwhile

    def resume(self):
        for pid in self._tree():
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ssl_context(self, ca_file):
        return ssl.create_default_context(cafile=ca_file)


# ------------------------------------------------------------------ stunnel

class Stunnel:
    """A TLS front with a cap on the TLS version (TLS 1.2 by default) that
    forwards to a plain port, e.g. Dovecot's: an old-fashioned POP3S server.
    tls_max=None leaves stunnel's own range (e.g. to serve an expired or
    self-signed certificate with any version)."""

    def __init__(self, directory, connect_port, cert, key, tls_max="TLSv1.2", tls_min=None):
        self.port = free_port()
        self.dir = os.path.join(directory, f"stunnel-{self.port}")
        os.makedirs(self.dir)
        self.pidfile = os.path.join(self.dir, "stunnel.pid")
        self.logfile = os.path.join(self.dir, "stunnel.log")
        lines = [
            "foreground = yes",
            f"pid = {self.pidfile}",
            f"output = {self.logfile}",
            "[pop3s]",
            f"accept = 127.0.0.1:{self.port}",
            f"connect = 127.0.0.1:{connect_port}",
            f"cert = {cert}",
            f"key = {key}",
        ]
        if tls_max:
            lines.append(f"sslVersionMax = {tls_max}")
        if tls_min:
            lines.append(f"sslVersionMin = {tls_min}")
        self.conf = write_file(os.path.join(self.dir, "stunnel.conf"), "\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["stunnel", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc, what="stunnel")
        return self

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, proc=self.proc)
            self.proc = None


# ------------------------------------------------------------------ popgate

class Popgate:
    """popgate under test: config in a temp folder, CLI helpers, the daemon
    as a child process, its log for failure reports."""

    def __init__(self, directory, interval=5, login_wait=10, workers=2, timeout=30,
                 log_level="debug", cert=None, extra=None, binary=None, name="popgate",
                 environ=None):
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir)
        self.name = name
        self.bin = binary or popgate_binary()
        self.environ = environ
        self.state_dir = os.path.join(self.dir, "state")
        self.port = free_port()          # plain + STLS
        self.port_tls = free_port()      # implicit TLS
        self.web_port = free_port()
        self.cert = cert                 # (cert, key) or None: popgate makes one
        self.settings = {
            "general": {"state_dir": self.state_dir, "log_level": log_level},
            "pop3": {"listen": f"127.0.0.1:{self.port}",
                     "listen_tls": f"127.0.0.1:{self.port_tls}"},
            "web": {"listen": f"127.0.0.1:{self.web_port}"},
            "sync": {"interval": str(interval), "login_wait": str(login_wait),
                     "workers": str(workers), "timeout": str(timeout)},
            "dns": {"mode": "system"},
        }
        if cert is not None:
            self.settings["pop3"]["cert"], self.settings["pop3"]["key"] = cert
        for section, kv in (extra or {}).items():
            self.settings.setdefault(section, {}).update(kv)
        self.config = os.path.join(self.dir, "popgate.ini")
        self.write_config()
        self.logfile = os.path.join(self.dir, "popgate.log")
        self.proc = None
        self._secret_n = 0

    def write_config(self):
        text = ""
        for section, kv in self.settings.items():
            text += f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) + "\n"
        write_file(self.config, text, 0o600)

    @property
    def cert_file(self):
        """The certificate popgate serves (its generated one unless given)."""
        if self.cert is not None:
            return self.cert[0]
        return os.path.join(self.state_dir, "popgate-cert.pem")

    # CLI
    def cli(self, *args, input=None, check=True):
        return run([self.bin] + list(args) + ["-c", self.config], input=input, check=check)

    def _secret_file(self, secret):
        self._secret_n += 1
        return write_file(os.path.join(self.dir, f"secret-{self._secret_n}"), secret + "\n", 0o600)

    def user_add(self, name, password, admin=False):
        args = ["user", "add", name, "--password-file", "-"]
        if admin:
            args.append("--admin")
        return self.cli(*args, input=(password + "\n").encode())

    def account_add(self, name, owner, host, port, login, password, tls="implicit",
                    ca_file=None, auth=None, check=True):
        args = ["account", "add", name, "--owner", owner, "--host", host, "--port", str(port),
                "--tls", tls, "--login", login, "--password-file", self._secret_file(password)]
        if ca_file:
            args += ["--ca-file", ca_file]
        if auth:
            args += ["--auth", auth]
        return self.cli(*args, check=check)

    def list_add(self, kind, pattern):
        return self.cli("list", "add", kind, pattern)

    def quarantine_list(self):
        """popgate quarantine list, each line split at its tabs (id, account, date, ...)."""
        out = self.cli("quarantine", "list").stdout.decode()
        return [line.split("\t") for line in out.splitlines()]

    def wait_quarantined(self, login, password, n, timeout=30):
        """Logs in as login (a login asks for a sync) until its account has n quarantined messages."""
        import clients

        def ready():
            clients.stat(self.port_tls, login, password, "implicit", self.ssl_context())
            return sum(1 for f in self.quarantine_list() if f[1] == login) >= n
        wait_until(ready, timeout, interval=0.5, what=f"{n} quarantined messages for {login}")

    def audit(self):
        """The audit log: (user, action, target, result) rows, oldest first."""
        with sqlite3.connect(os.path.join(self.state_dir, "popgate.db")) as c:
            return c.execute("SELECT user, action, target, result FROM audit_log ORDER BY id").fetchall()

    def api(self, method, path, body=None, raw=None, token=None, headers=None):
        """(status, headers, body) of one request to the web listener: body is the parsed
        JSON when the answer is JSON, None when it is empty, the bytes otherwise."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.web_port}{path}", data=data, method=method)
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                st, h, payload = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            st, h, payload = e.code, e.headers, e.read()
        if not payload:
            return st, h, None
        if h.get("Content-Type", "").startswith("application/json"):
            return st, h, json.loads(payload)
        return st, h, payload

    def train(self, make_spam, make_ham, n=15, first=100):
        """Trains the filter on n spam and n ham messages, make_spam(i) and
        make_ham(i) for i from first on (written to files, as mail is)."""
        files = {"spam": [], "ham": []}
        for i in range(first, first + n):
            for kind, make in (("spam", make_spam), ("ham", make_ham)):
                p = os.path.join(self.dir, f"train-{kind}-{i}.eml")
                with open(p, "wb") as f:
                    f.write(make(i))
                files[kind].append(p)
        self.cli("train", "--spam", *files["spam"])
        self.cli("train", "--ham", *files["ham"])

    # daemon
    def start(self, timeout=20):
        log = open(self.logfile, "ab")
        env = None
        if self.environ:
            env = dict(os.environ, **self.environ)
        self.proc = subprocess.Popen([self.bin, "serve", "-c", self.config],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        log.close()
        wait_port(self.port, proc=self.proc, timeout=timeout, what="popgate")
        wait_port(self.port_tls, proc=self.proc, timeout=timeout, what="popgate")
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, SIGKILL after timeout; returns the exit status."""
        if self.proc is None:
            return None
        clean = stop_pid(self.proc.pid, timeout, proc=self.proc)
        rc = self.proc.wait()
        self.proc = None
        if not clean:
            raise RuntimeError(f"popgate ignored SIGTERM for {timeout}s")
        return rc

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                       "ThreadSanitizer", "UndefinedBehaviorSanitizer")

    def sanitizer_reports(self):
        """Lines of the log where a sanitizer (ASan, UBSan, LSan) spoke."""
        return [l for l in self.log().splitlines() if any(m in l for m in self.SANITIZER_MARKS)]

    def assert_clean_stop(self):
        """SIGTERM must end the daemon promptly with status 0 and no
        sanitizer report anywhere in its log."""
        assert self.running(), f"{self.name} is not running (exit status {self.proc.returncode})" \
            if self.proc is not None else f"{self.name} was never started"
        rc = self.stop()
        reports = self.sanitizer_reports()
        assert not reports, f"{self.name}: sanitizer reports: {reports[:5]}"
        assert rc == 0, f"{self.name} exited with status {rc} on SIGTERM"

    def state_bytes(self):
        """Bytes in the state folder (database, WAL): grows while syncing."""
        total = 0
        for root, _, files in os.walk(self.state_dir):
            for n in files:
                try:
                    total += os.path.getsize(os.path.join(root, n))
                except OSError:
                    pass
        return total

    def has_asan(self):
        with open(self.bin, "rb") as f:
            return b"__asan_init" in f.read()

    def vm_hwm_kb(self):
        """Peak resident set size (VmHWM) of the daemon, in kB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmHWM")

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ssl_context(self, verify=False):
        """A client context for popgate's listeners: by default trusting
        nothing (its cert is self-signed), or its own cert when verify=True."""
        if verify:
            return ssl.create_default_context(cafile=self.cert_file)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx


# ------------------------------------------------------- test registration

_stopping = False       # set once the peers are being stopped


class Env:
    """What a test file shares: a temp folder, the peers it started (stopped
    in reverse order by close()), and logs to show when a test fails."""

    def __init__(self, prefix="popgate-e2e-"):
        self.dir = tempdir(prefix)
        self._peers = []

    def add(self, peer):
        self._peers.append(peer)
        return peer

    def start(self, peer):
        self.add(peer)
        return peer.start()

    def popgates(self):
        """The popgate instances this file started and has not stopped."""
        return [p for p in self._peers if isinstance(p, Popgate) and p.proc is not None]

    def dump_logs(self, tail=60):
        for p in self._peers:
            if isinstance(p, (Popgate, Dovecot)):
                text = p.log().splitlines()[-(tail if isinstance(p, Popgate) else 12):]
                print(f"# --- {getattr(p, 'name', type(p).__name__)} log (last {len(text)} lines) ---")
                for line in text:
                    print("# " + line)
        sys.stdout.flush()

    def close(self):
        global _stopping
        _stopping = True     # a SIGTERM now must not cut the stopping short
        for p in reversed(self._peers):
            try:
                p.stop()
            except Exception as e:
                print(f"# stopping {type(p).__name__}: {e}")
        if os.environ.get("POPGATE_KEEP_TMP"):
            print(f"# kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def test(fn):
    """Like tap.test, but a failure also prints the tail of every peer's log."""
    def wrapper(env):
        try:
            fn(env)
        except Exception:
            env.dump_logs()
            raise
    wrapper.__name__ = fn.__name__
    return tap.test(wrapper)


def _exit_on_signal(signum, frame):
    """SIGTERM or SIGHUP ends the file the way Ctrl-C does, through the
    teardown, so no daemonized Dovecot or stunnel outlives it (once: a
    signal while the peers are being stopped is ignored)."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    print(f"# {signal.Signals(signum).name}: stopping the peers")
    sys.stdout.flush()
    raise SystemExit(128 + signum)


def main(setup, prefix="popgate-e2e-"):
    """Runs the registered tests with one Env: setup(env) starts the peers
    the file shares; if it fails, their logs are shown and everything it
    started is stopped before bailing out. The peers are stopped too when
    the file is interrupted (Ctrl-C, SIGTERM from a harness's timeout,
    SIGHUP)."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(s) != signal.SIG_IGN:     # nohup stays nohup
            signal.signal(s, _exit_on_signal)

    def _setup():
        env = Env(prefix)
        try:
            setup(env)
        except BaseException as e:
            if isinstance(e, Exception):
                env.dump_logs()
            env.close()
            raise
        return env
    tap.run(_setup, lambda env: env.close())
