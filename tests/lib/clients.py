"""Real POP3 clients driven from the tests: Python poplib, curl, fetchmail,
getmail6, and a raw socket client for what the others never send
(pipelining, malformed and oversized commands).

Each download helper returns a list of raw messages as the client hands
them to the user: poplib and curl give the POP3 wire form (CRLF); fetchmail
(via an MDA) and getmail6 (Maildir) write files with LF line ends and their
own few header lines, so tests compare their output through popgate with
their output straight from Dovecot.
"""
import base64
import os
import poplib
import socket
import ssl
import subprocess

import mailgen
import peers

# Real mail has lines longer than poplib's default limit of 2048.
poplib._MAXLINE = 1 << 22


# ------------------------------------------------------------------ poplib

def pop_connect(port, mode="implicit", context=None, host="127.0.0.1", timeout=30):
    """mode: implicit (POP3S), stls (plain then STLS) or plain."""
    if mode == "implicit":
        return poplib.POP3_SSL(host, port, context=context, timeout=timeout)
    p = poplib.POP3(host, port, timeout=timeout)
    if mode == "stls":
        p.stls(context=context)
    return p


def pop_login(p, user, password, auth="user"):
    if auth == "plain":
        tok = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        return p._shortcmd("AUTH PLAIN " + tok)
    p.user(user)
    return p.pass_(password)


def retr(p, n):
    """RETR n as the raw message: lines rejoined with CRLF, dots unstuffed."""
    _, lines, _ = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n"


def uidls(p):
    """{number: uidl}"""
    _, lines, _ = p.uidl()
    out = {}
    for line in lines:
        n, u = line.decode().split(" ", 1)
        out[int(n)] = u
    return out


def uidls_by_message_id(port, user, password, context, host="localhost"):
    """{Message-ID: UIDL} as the POP3S server at port shows them (nothing deleted)."""
    p = pop_connect(port, "implicit", context, host=host)
    try:
        pop_login(p, user, password)
        out = {}
        for n, u in uidls(p).items():
            out[mailgen.message_id(retr(p, n))] = u
        p.quit()
        return out
    except Exception:
        p.close()
        raise


def poplib_download(port, user, password, mode="implicit", context=None, auth="user",
                    host="127.0.0.1"):
    """Logs in, downloads every message, QUITs. Returns [(uidl, data)]."""
    p = pop_connect(port, mode, context, host)
    try:
        pop_login(p, user, password, auth)
        ids = uidls(p)
        out = [(ids[n], retr(p, n)) for n in sorted(ids)]
        p.quit()
        return out
    except Exception:
        p.close()
        raise


def stat(port, user, password, mode="implicit", context=None):
    p = pop_connect(port, mode, context)
    try:
        pop_login(p, user, password)
        count, size = p.stat()
        p.quit()
        return count, size
    except Exception:
        p.close()
        raise


def wait_count(port, user, password, count, context=None, timeout=30, mode="implicit"):
    """Logs in again and again until the maildrop holds count messages."""
    seen = []

    def ok():
        try:
            seen.append(stat(port, user, password, mode, context)[0])
        except poplib.error_proto as e:
            # a session that just ended may still hold the mailbox
            msg = e.args[0] if e.args else b""
            if b"[IN-USE]" not in (msg if isinstance(msg, bytes) else str(msg).encode()):
                raise
            return False
        return seen[-1] == count
    try:
        peers.wait_until(ok, timeout, interval=0.2, what=f"{count} messages for {user}")
    except TimeoutError:
        raise AssertionError(f"{user}: expected {count} messages, last STAT said "
                             f"{seen[-1] if seen else 'nothing'}")


# -------------------------------------------------------------------- curl

def curl(url, user, password, extra=(), timeout=60):
    cmd = ["curl", "-sS", "--max-time", str(timeout), "-u", f"{user}:{password}"] + list(extra) + [url]
    r = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
    if r.returncode != 0:
        raise RuntimeError(f"curl {url} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def curl_download(scheme, port, user, password, extra=(), host="127.0.0.1"):
    """Lists with curl, then RETRs each message with curl. scheme: pop3s,
    or pop3 with extra=['--ssl-reqd'] for STLS. Returns [data]."""
    base = f"{scheme}://{host}:{port}/"
    listing = curl(base, user, password, extra).decode()
    nums = [int(l.split()[0]) for l in listing.splitlines() if l.strip()]
    return [curl(f"{base}{n}", user, password, extra) for n in nums]


# --------------------------------------------------------------- fetchmail

def fetchmail_download(workdir, port, user, password, certfile, host="localhost",
                       keep=True, timeout=120):
    """fetchmail over implicit TLS with sslcertck against certfile; an MDA
    writes each message to its own file. Returns [data] (LF line ends)."""
    os.makedirs(workdir, exist_ok=True)
    out = os.path.join(workdir, "out")
    os.makedirs(out, exist_ok=True)
    rc = os.path.join(workdir, "fetchmailrc")
    peers.write_file(rc, f"""\
set no syslog
set no bouncemail
set invisible
poll {host} with proto POP3 port {port} uidl
  user "{user}" there with password "{password}" is "root" here
  options {'keep' if keep else 'nokeep'} fetchall no rewrite
  ssl sslcertck sslcertfile "{certfile}"
  mda "cat > {out}/m.$$"
""", 0o600)
    env = dict(os.environ, HOME=workdir, FETCHMAILHOME=workdir)
    # As root, fetchmail locks /var/run/fetchmail.pid unless told otherwise,
    # and two test files running at once would then refuse each other.
    r = subprocess.run(["fetchmail", "-f", rc, "-i", os.path.join(workdir, "ids"),
                        "--pidfile", os.path.join(workdir, "fetchmail.pid"),
                        "--nodetach", "--nosyslog"],
                       capture_output=True, env=env, timeout=timeout)
    # 0: mail fetched; 1: no mail
    if r.returncode not in (0, 1):
        raise RuntimeError(f"fetchmail exited {r.returncode}: "
                           f"{r.stderr.decode(errors='replace')}{r.stdout.decode(errors='replace')}")
    msgs = []
    for n in sorted(os.listdir(out)):
        with open(os.path.join(out, n), "rb") as f:
            msgs.append(f.read())
    return msgs


# ----------------------------------------------------------------- getmail

def getmail_download(workdir, port, user, password, ca_certs=None, host="localhost",
                     timeout=120, attempts=3):
    """getmail6 into a Maildir; with ca_certs, the server cert and its name
    are verified. Returns [data] (LF line ends).

    getmail6 installs its SIGCHLD handler only after forking the Maildir
    writer; when the writer exits first (a loaded machine), getmail waits
    for a signal that never comes until its socket timeout ends and then
    fails with "waiting child pid ... timed out". That run is thrown away
    and repeated into a fresh Maildir; any other failure counts."""
    for attempt in range(1, attempts + 1):
        try:
            return _getmail_once(os.path.join(workdir, f"try{attempt}"), port, user, password,
                                 ca_certs, host, timeout)
        except _GetmailRace:
            print(f"# getmail lost its SIGCHLD race (attempt {attempt}); trying again")
            if attempt == attempts:
                raise RuntimeError(f"getmail lost its own SIGCHLD race {attempts} times")


class _GetmailRace(Exception):
    pass


def _getmail_once(workdir, port, user, password, ca_certs, host, timeout):
    os.makedirs(workdir, exist_ok=True)
    md = os.path.join(workdir, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    # timeout is also how long getmail waits for a lost SIGCHLD
    lines = ["[retriever]", "type = SimplePOP3SSLRetriever", f"server = {host}", f"port = {port}",
             f"username = {user}", f"password = {password}", "timeout = 10"]
    if ca_certs:
        lines.append(f"ca_certs = {ca_certs}")
    # getmail refuses to deliver as root; it drops to nobody for the Maildir.
    peers.chown_tree(md, "nobody", "nogroup")
    lines += ["", "[destination]", "type = Maildir", f"path = {md}/", "user = nobody", "",
              "[options]", "read_all = true", "delete = false", "delivered_to = false",
              "received = false", "verbose = 0", ""]
    rc = peers.write_file(os.path.join(workdir, "getmailrc"), "\n".join(lines), 0o600)
    try:
        r = subprocess.run(["getmail", "--rcfile", rc, "--getmaildir", workdir],
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise _GetmailRace()
    out = r.stderr.decode(errors="replace") + r.stdout.decode(errors="replace")
    if r.returncode != 0:
        if "waiting child pid" in out and "timed out" in out:
            raise _GetmailRace()
        raise RuntimeError(f"getmail exited {r.returncode}: {out}")
    msgs = []
    for sub in ("new", "cur"):
        for n in sorted(os.listdir(os.path.join(md, sub))):
            with open(os.path.join(md, sub, n), "rb") as f:
                msgs.append(f.read())
    return msgs


# ------------------------------------------------------------------- raw

class Raw:
    """A POP3 connection on a bare socket: send exactly the bytes a test
    wants, read replies line by line."""

    def __init__(self, port, tls=False, context=None, host="127.0.0.1", timeout=30):
        s = socket.create_connection((host, port), timeout=timeout)
        if tls:
            if context is None:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            s = context.wrap_socket(s, server_hostname=host)
        self.sock = s
        self.buf = b""
        self.eof = False
        self.greeting = self.line()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.line()

    def line(self):
        """One reply line without CRLF; b'' when the server closed."""
        while b"\r\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            except ssl.SSLError as e:
                if "EOF" not in str(e).upper() and "RESET" not in str(e).upper():
                    raise
                chunk = b""
            if not chunk:
                self.eof = True
                rest, self.buf = self.buf, b""
                return rest
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def multi(self):
        """The body of a multi-line reply (after its +OK line), unstuffed."""
        out = []
        while True:
            l = self.line()
            if l == b".":
                return out
            if self.eof:
                raise EOFError("connection closed inside a multi-line reply")
            out.append(l[1:] if l.startswith(b"..") else l)

    def closed(self, timeout=10):
        """True if the server closes the connection within timeout."""
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def stls(self, context=None, host="127.0.0.1"):
        r = self.cmd("STLS")
        if not r.startswith(b"+OK"):
            return r
        if context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.sock = context.wrap_socket(self.sock, server_hostname=host)
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
