"""Realistic RFC 822 messages for popgate's tests, nasty ones included.

Every message is bytes with CRLF line ends and a unique Message-ID, so a test
can match what a client downloaded to what was put upstream. The nasty
set covers what breaks byte-identity: lines starting with '.', a lone '.',
long lines, 8-bit bodies, no final CRLF, folded and odd headers, MIME
multipart with base64, an empty body, and (on request) a 20 MB message.
"""
import base64
import random
import re

CRLF = b"\r\n"
_counter = 0


def _msgid(tag):
    global _counter
    _counter += 1
    return f"<{tag}.{_counter}.{random.getrandbits(48):012x}@gen.popgate.test>"


def message(subject="Hello", body=None, sender="Carol Example <carol@example.org>",
            to="alice@pop.test", extra_headers=(), tag="msg", date=None, final_crlf=True):
    """One text/plain message. body: str or bytes, lines joined with CRLF."""
    mid = _msgid(tag)
    if body is None:
        body = f"Hi Alice,\r\n\r\nThis is message {mid}.\r\n\r\n-- \r\nCarol\r\n"
    if isinstance(body, str):
        body = body.encode("utf-8")
    hdrs = [
        "Return-Path: <carol@example.org>",
        "Received: from mx.example.org (mx.example.org [192.0.2.25])\r\n"
        "\tby pop.test (Postfix) with ESMTPS id 4Qx1Yz2Kd9z9v\r\n"
        "\tfor <alice@pop.test>; Fri, 04 Dec 2026 10:00:00 +0000 (UTC)",
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date or 'Fri, 04 Dec 2026 10:00:00 +0000'}",
        f"Message-ID: {mid}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ] + list(extra_headers)
    head = CRLF.join(h.encode("utf-8") if isinstance(h, str) else h for h in hdrs)
    data = head + CRLF + CRLF + body
    if final_crlf and not data.endswith(CRLF):
        data += CRLF
    if not final_crlf:
        data = data.rstrip(b"\r\n")
    return data


def dots():
    """Lines that a POP3 server must dot-stuff, a lone '.' among them."""
    body = (b".\r\n"
            b"..\r\n"
            b".hidden line starting with a dot\r\n"
            b"...three dots\r\n"
            b"\r\n"
            b".\r\n"
            b" .\r\n"
            b"end . with a dot\r\n"
            b".\r\n")
    return message("Dots at the start of lines", body, tag="dots")


def long_lines():
    """Lines far beyond RFC 5322's 998 (real mail has them)."""
    body = (b"A" * 5000 + b"\r\n" + b"short\r\n" +
            b"." + b"x" * 20000 + b"\r\n" + b"y" * 998 + b"\r\n")
    return message("Long lines", body, tag="long")


def eight_bit():
    """Raw 8-bit UTF-8 and Latin-1 bytes, an escape and a DEL, no encoding."""
    body = ("Grüße aus Zürich — naïve façade, 日本語のメール, emoji 📬\r\n").encode("utf-8")
    body += b"latin-1: \xe9t\xe9 \xfc\xf1\xee\r\n"
    body += b"control: \x1b[0m \x7f \x01\r\n"
    body += bytes(range(0x80, 0x100)) + b"\r\n"
    return message("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", body, tag="8bit",
                   sender="=?ISO-8859-1?Q?Andr=E9?= <andre@example.org>")


def no_final_crlf():
    """The last line has no CRLF; POP3 must still end with CRLF.CRLF."""
    return message("No final CRLF", b"last line without line end", tag="nocrlf",
                   final_crlf=False)


def bare_cr_and_nul():
    """A CR that ends no line, a CR before a dot, NUL bytes: Dovecot passes
    them through untouched, so popgate must too."""
    return message("Bare CR and NUL", b"a\rb\r\n\r.\r\nc\x00d\r\n\x00\r\n", tag="crnul")


def ends_with_dot():
    """The last line is a lone '.', with no CRLF after it."""
    return message("Ends with a dot", b"text\r\n.", tag="enddot", final_crlf=False)


def bare_lf():
    """LF-only line ends: Dovecot sends them as CRLF. Compare what popgate
    serves with what Dovecot serves, not with this source."""
    return message("Bare LF", b"line one\nline two\n.\n..\nend\n", tag="lf")


def empty_body():
    return message("Empty body", b"", tag="empty")


def odd_headers():
    """Folded headers, tabs, a very long header, X- headers of our own
    kind that are not ours, duplicated fields, trailing whitespace."""
    extra = [
        "X-Mailer: Tester\t 1.0   ",
        "X-Popgate: not one of ours (no dash suffix)",
        "X-Popgateway-Note: also not ours",
        "Comments: first\r\n  second line of a folded header\r\n\tthird",
        "References: " + " ".join(f"<ref{i}@example.org>" for i in range(80)),
        "Received: by relay.example.org; Fri, 04 Dec 2026 09:59:00 +0000",
    ]
    return message("Odd headers", "Body.\r\n", tag="hdr", extra_headers=extra)


def multipart():
    rnd = random.Random(7)
    blob = bytes(rnd.getrandbits(8) for _ in range(30000))
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    body = (b"This is a multi-part message in MIME format.\r\n"
            b"--=_b1\r\n"
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            b"See attachment.\r\n.\r\n"
            b"--=_b1\r\n"
            b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n" + b64 +
            b"--=_b1--\r\n")
    m = message("Multipart with attachment", body, tag="mime")
    return m.replace(b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit",
                     b"Content-Type: multipart/mixed; boundary=\"=_b1\"", 1)


def from_line():
    """A body line starting with 'From ' (mbox clients mangle it)."""
    return message("From lines", b"From here on\r\n>From there\r\nFrom: inside body\r\n",
                   tag="from")


def big(size=20 * 1024 * 1024, tag="big"):
    """A message of about size bytes: realistic base64 lines of 76 chars,
    with a few dot-lines sprinkled in so stuffing is exercised at scale."""
    rnd = random.Random(size)
    line_payload = 57
    lines = []
    total = 0
    i = 0
    while total < size:
        if i % 5000 == 4999:
            line = b"." + b"dotline" * 5
        else:
            chunk = rnd.getrandbits(line_payload * 8).to_bytes(line_payload, "little")
            line = base64.b64encode(chunk)
        lines.append(line)
        total += len(line) + 2
        i += 1
    body = CRLF.join(lines) + CRLF
    return message(f"Big message of {size} bytes", body, tag=tag)


def nasty():
    """The whole nasty set, small enough for every test (under 100 kB)."""
    return [message("Plain hello"), dots(), long_lines(), eight_bit(), no_final_crlf(),
            empty_body(), odd_headers(), multipart(), from_line(), bare_cr_and_nul(),
            ends_with_dot()]


def corpus(n, seed=1, min_size=500, max_size=60000):
    """n realistic messages of varied size (for benchmarks and crash tests)."""
    rnd = random.Random(seed)
    words = ("the quick brown fox jumps over lazy dog invoice meeting report "
             "tomorrow attached please find regards thanks budget quarter").split()
    out = []
    for k in range(n):
        target = rnd.randint(min_size, max_size)
        lines = []
        size = 0
        while size < target:
            line = " ".join(rnd.choice(words) for _ in range(rnd.randint(3, 14)))
            if rnd.random() < 0.03:
                line = "." + line
            lines.append(line)
            size += len(line) + 2
        out.append(message(f"Corpus message {k}", "\r\n".join(lines) + "\r\n", tag=f"c{k}"))
    return out


# ---------------------------------------------------------------- helpers

_MID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.I | re.M)


def message_id(data):
    m = _MID.search(data.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in data else data)
    if not m:
        # LF-only form (what MDAs and Maildir writers produce)
        m = _MID.search(data.split(b"\n\n", 1)[0])
    return m.group(1).decode() if m else None


def wire_form(data):
    """What a POP3 client receives for stored data: CRLF-terminated."""
    return data if data.endswith(CRLF) else data + CRLF


def strip_popgate_headers(data):
    """Drops the header fields whose names start with X-Popgate- (and their
    folded continuation lines); leaves every other byte alone. Works on
    CRLF and LF-only messages."""
    nl = b"\r\n" if b"\r\n" in data[:2000] else b"\n"
    sep = nl + nl
    if data.startswith(nl):
        return data
    if sep in data:
        head, rest = data.split(sep, 1)
        rest = sep + rest
    else:
        head, rest = data, b""
    out = []
    dropping = False
    for line in head.split(nl):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                out.append(line)
            continue
        dropping = line.lower().startswith(b"x-popgate-")
        if not dropping:
            out.append(line)
    return nl.join(out) + rest


def popgate_headers(data):
    """The X-Popgate-* header lines of a message (unfolded, decoded)."""
    nl = b"\r\n" if b"\r\n" in data[:2000] else b"\n"
    head = data.split(nl + nl, 1)[0]
    return [l.decode(errors="replace") for l in head.split(nl)
            if l.lower().startswith(b"x-popgate-")]


def assert_same(got, want, what=""):
    """got/want: lists of raw messages; X-Popgate-* lines are dropped from
    got. Raises AssertionError naming the first difference."""
    got = [strip_popgate_headers(m) for m in got]
    gi = {message_id(m): m for m in got}
    wi = {message_id(m): m for m in want}
    assert len(got) == len(want), f"{what}: {len(got)} messages, want {len(want)}"
    if None in gi and None not in wi:
        bad = gi[None]
        raise AssertionError(f"{what}: a message has no Message-ID any more ({len(bad)} bytes, "
                             f"{bad.count(0)} NUL bytes): {bad[:120]!r}")
    assert set(gi) == set(wi), f"{what}: missing {set(wi) - set(gi)}, extra {set(gi) - set(wi)}"
    for mid, m in wi.items():
        if gi[mid] != m:
            g = gi[mid]
            at = next((i for i in range(min(len(g), len(m))) if g[i] != m[i]), min(len(g), len(m)))
            raise AssertionError(f"{what}: {mid} differs at byte {at} (got {len(g)} bytes, "
                                 f"want {len(m)}): got {g[max(0, at - 40):at + 40]!r} "
                                 f"want {m[max(0, at - 40):at + 40]!r}")


# Mail a trained filter tells apart: the words of each class, mixed per i.
SPAM_WORDS = "casino jackpot winner bonus lottery prize viagra pills cheap offer".split()
HAM_WORDS = "meeting agenda patch review kernel release minutes budget schedule draft".split()


def class_text(words, i, n=40):
    return " ".join(words[(i * 3 + k) % len(words)] for k in range(n)) + "\r\n"


def spam(i):
    """Spam number i: casino words, "WIN BIG i"."""
    return message(f"WIN BIG {i}", body=class_text(SPAM_WORDS, i), tag="spam",
                   sender="Casino <promo@casino.example>")


def ham(i, sender="Alice <alice@work.example>"):
    """Ham number i: meeting words, "Weekly meeting i"."""
    return message(f"Weekly meeting {i}", body=class_text(HAM_WORDS, i), tag="ham", sender=sender)
