#!/usr/bin/env python3
"""Writes the MIME fixtures of tests/unit/test-tokenize.c (run once; the
outputs are committed). Japanese text is encoded here so that the files hold
the real ISO-2022-JP, Shift_JIS and EUC-JP bytes a mail client would send."""
import base64
import os
import quopri

HERE = os.path.dirname(os.path.abspath(__file__))


def b(text, cs):
    return "=?%s?B?%s?=" % (cs, base64.b64encode(text.encode(cs)).decode())


def write(name, data):
    if isinstance(data, str):
        data = data.encode("ascii")
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


write("multipart.eml", """From: Alice Example <alice@example.org>
To: bob@example.net
Subject: Quarterly report
Date: Mon, 2 Dec 2024 10:00:00 +0100
Message-ID: <q4.report@example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=us-ascii

Plain quarterly figures attached below.
--b1
Content-Type: text/html; charset=us-ascii

<html><body><p>Html <b>quarterly</b> figures</p></body></html>
--b1--
""")

inner = """From: Carol <carol@inner.example>
Subject: Forwarded innersubject
Content-Type: text/plain

Forwarded body innerword.
"""
write("nested.eml", """From: dave@example.com
To: erin@example.com
Subject: Nested parts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

Outer alternative plainword.
--inner
Content-Type: text/html

<p>Outer alternative htmlword.</p>
--inner--
--outer
Content-Type: message/rfc822

""" + inner + """
--outer
Content-Type: application/pdf; name="Invoice-2024.PDF"
Content-Disposition: attachment; filename="Invoice-2024.PDF"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K
--outer--
""")

write("html-only.eml", """From: promo@shop.example
To: victim@example.net
Subject: Deals
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><style>p { color: red }</style><script>var hidden = "scriptword";</script></head>
<body><p>Buy v<!-- x -->iagra now &amp; save</p>
<div style="display: none">invisibletext</div>
<a href="http://Click.Example.COM/offer/special?id=1">click&nbsp;here</a>
<img src="https://img.tracker.example/pixel.gif">
<p>Caf&eacute; &#x263A; &#8364;5</p>
</body></html>
""")

utf8_body = base64.encodebytes("Grüße aus München, base64word.\n".encode("utf-8")).decode()
qp_body = quopri.encodestring("Très café qpword = fin.\n".encode("iso-8859-1")).decode()
write("base64-qp.eml", """From: frank@example.de
To: gina@example.fr
Subject: Encodings
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="enc"

--enc
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

""" + utf8_body + """
--enc
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

""" + qp_body + """
--enc--
""")

write("rfc2047.eml", "From: " + b("Ярослав", "koi8-r") + " <yaroslav@example.ru>\n"
      "To: h@example.com\n"
      "Subject: " + b("Grüße", "utf-8") + " and =?ISO-8859-1?Q?caf=E9?= and " + b("Привет", "koi8-r")
      + " and " + b("日本語", "iso-2022-jp") + " and =?windows-1252?Q?=80uro?=\n"
      "MIME-Version: 1.0\nContent-Type: text/plain\n\nbody\n")

jp_text = "お得な情報です。今すぐ無料で登録してください。\nhttp://jp.example.jp/touroku\n"
write("iso-2022-jp.eml", ("From: " + b("販売部", "iso-2022-jp") + " <sales@example.jp>\n"
      "To: user@example.jp\n"
      "Subject: " + b("【無料】今すぐ登録", "iso-2022-jp") + "\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=ISO-2022-JP\n"
      "Content-Transfer-Encoding: 7bit\n\n").encode() + jp_text.encode("iso-2022-jp"))

write("shift-jis.eml", ("From: sales@example.jp\n"
      "To: user@example.jp\n"
      "Subject: " + b("激安セール", "shift_jis") + "\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=Shift_JIS\n"
      "Content-Transfer-Encoding: 8bit\n\n").encode() + "激安セール開催中。ｶﾀｶﾅも。ＦＲＥＥ\n".encode("shift_jis"))

# No charset at all: the tokenizer has to recognise the bytes.
write("shift-jis-undeclared.eml", ("From: sales@example.jp\n"
      "To: user@example.jp\n"
      "Subject: nocharset\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/plain\n"
      "Content-Transfer-Encoding: 8bit\n\n").encode() + "出会い系サイトの案内\n".encode("shift_jis"))

write("euc-jp.eml", ("From: sales@example.jp\n"
      "To: user@example.jp\n"
      "Subject: euc\n"
      "MIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=EUC-JP\n"
      "Content-Transfer-Encoding: 8bit\n\n").encode() + "副業で月収百万円\n".encode("euc-jp"))

write("malformed.eml", """From: broken@example.com
Subject: Broken MIME
This line has no colon and ends the header block badly
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="never-closed"

preamble text
--never-closed
Content-Type: text/plain; charset=x-unknown-charset
Content-Transfer-Encoding: base64

!!!not base64 at all!!! c3Vydml2b3I=
--never-closed
Content-Type: text/html
Content-Transfer-Encoding: quoted-printable

<p unclosed="attr>survivorword =ZZ bad qp</p
<a href=http://bare.example.org/path>x</a
""")
