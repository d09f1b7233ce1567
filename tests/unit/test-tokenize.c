/*
 * test-tokenize: the MIME walk and the tokenizer on real-shaped mail
 * (the .eml files in tests/data/mime, made by make-fixtures.py): multipart, nested
 * with an attached message, HTML only, base64 and quoted-printable, RFC 2047
 * in several charsets, ISO-2022-JP, Shift_JIS (declared and not) and EUC-JP
 * Japanese mail, malformed MIME; then the text rules one by one.
 */
#include "mime.h"
#include "tokenize.h"
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct tokset *ts;
static struct tokenize_info info;

static int
has(const char *tok)
{
	for (size_t i = 0; i < tokenize_set_count(ts); i++) {
		if (strcmp(tokenize_set_text(ts, i), tok) == 0)
			return 1;
	}
	return 0;
}

static int
load(const char *name)
{
	const char *top = getenv("top_srcdir"), *error = NULL;
	char path[1024];
	int fd, rc;

	snprintf(path, sizeof(path), "%s/tests/data/mime/%s", top != NULL ? top : ".", name);
	tokenize_set_clear(ts);
	tokenize_info_clear(&info);
	if ((fd = open(path, O_RDONLY)) == -1) {
		printf("# cannot open %s\n", path);
		return -1;
	}
	rc = tokenize_fd(ts, &info, fd, &error);
	close(fd);
	if (rc == -1)
		printf("# %s: %s\n", name, error);
	return rc;
}

static int
family(const char *tok)
{
	for (size_t i = 0; i < tokenize_set_count(ts); i++) {
		if (strcmp(tokenize_set_text(ts, i), tok) == 0)
			return tokenize_set_family(ts, i);
	}
	return -1;
}

#define HAS(tok) CHECK(has(tok), "%s has token %s", fixture, tok)
#define HASNT(tok) CHECK(!has(tok), "%s has no token %s", fixture, tok)

static void
test_multipart(void)
{
	const char *fixture = "multipart.eml";

	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("plain");
	HAS("quarterly");
	HAS("html");            /* only in the HTML alternative */
	HAS("subj:quarterly");
	HAS("from:addr:alice@example.org");
	HAS("from:dom:example.org");
	HAS("from:alice");
	HAS("to:dom:example.net");
	HAS("to:count:1");
	HAS("mid:dom:example.org");
	HAS("date:tz:+0100");
	HAS("date:shape:Aaa, N Aaa NN NN:NN:NN +NN");   /* Mon, 2 Dec 2024 10:00:00 +0100 */
	HAS("mid:shape:<aN.aa@aa.aa>");                 /* <q4.report@example.org> */
	HAS("subj:shape:Aaa aa");                       /* Quarterly report */
	HAS("to:shape:aa@aa.aa");                       /* bob@example.net */
	HAS("hseq:>from");                              /* From comes first */
	HAS("hseq:from>to");
	HAS("hseq:subject>date");
	HAS("ct:multipart/alternative");                /* kept by GMime with the top part */
	HAS("hdr:content-type");
	HAS("hseq:mime-version>content-type");          /* in the order written */
	HASNT("hseq:from>subject");
	HAS("part:text/plain");
	HAS("part:text/html");
	HAS("charset:us-ascii");
	HAS("hdr:message-id");
	HASNT("nohdr:message-id");
	HASNT("html:tag:p");    /* tag names are not tokens */
	CHECK(info.from != NULL && strcmp(info.from, "alice@example.org") == 0, "From address gathered");
	/* the classifier weighs words and marks as separate bodies of evidence */
	CHECK(family("quarterly") == TOKENIZE_WORD && family("plain") == TOKENIZE_WORD,
	    "body and Subject words are words");
	CHECK(family("subj:quarterly") == TOKENIZE_MARK && family("from:dom:example.org") == TOKENIZE_MARK &&
	    family("hseq:from>to") == TOKENIZE_MARK && family("part:text/html") == TOKENIZE_MARK,
	    "header and part tokens are marks");
}

static void
test_nested(void)
{
	const char *fixture = "nested.eml";

	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("plainword");
	HAS("htmlword");
	HAS("innerword");       /* body of the attached message */
	HAS("innersubject");    /* its Subject, as a body word */
	HAS("part:message/rfc822");
	HAS("part:application/pdf");
	HAS("att:ext:pdf");
	HAS("att:name:invoice-2024.pdf");
	HASNT("from:addr:carol@inner.example");
	HAS("nohdr:message-id");
}

static void
test_html_only(void)
{
	const char *fixture = "html-only.eml";
	int domain = 0;

	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("viagra");          /* v<!-- x -->iagra reads as one word */
	HAS("buy");
	HAS("save");
	HAS("café");            /* &eacute; */
	HAS("html:comment");
	HAS("html:hidden");
	HAS("html:tag:script");
	HAS("html:entity:numeric");
	HAS("proto:http");
	HAS("url:click.example.com");
	HAS("url:example.com");
	HAS("urlp:offer");
	HAS("url:img.tracker.example");
	HASNT("scriptword");    /* script bodies are not text */
	HASNT("color");         /* nor style sheets */
	HASNT("amp");
	for (size_t i = 0; i < info.ndomains; i++)
		domain |= strcmp(info.domains[i], "click.example.com") == 0;
	CHECK(domain, "URL host gathered for the URIBL rule");
}

static void
test_encodings(void)
{
	const char *fixture = "base64-qp.eml";

	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("grüße");           /* base64, UTF-8 */
	HAS("münchen");
	HAS("base64word");
	HAS("très");            /* quoted-printable, ISO-8859-1 */
	HAS("café");
	HAS("qpword");
	HAS("charset:iso-8859-1");
	HASNT("odd:mixedscript");   /* accented Latin is not a look-alike trick */
}

static void
test_rfc2047(void)
{
	const char *fixture = "rfc2047.eml";

	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("subj:grüße");      /* UTF-8, B */
	HAS("subj:café");       /* ISO-8859-1, Q */
	HAS("subj:Привет");     /* KOI8-R, B */
	HAS("subj:日本");       /* ISO-2022-JP, B */
	HAS("subj:本語");
	HAS("from:Ярослав");    /* display name in KOI8-R */
	CHECK(info.subject != NULL && strstr(info.subject, "€uro") != NULL, "windows-1252 Q word decoded: %s",
	    info.subject != NULL ? info.subject : "(null)");
}

static void
test_japanese(void)
{
	const char *fixture = "iso-2022-jp.eml";

	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("subj:無料");
	HAS("subj:登録");
	HAS("無料");
	HAS("登録");
	HAS("お得");
	CHECK(family("無料") == TOKENIZE_WORD && family("subj:無料") == TOKENIZE_MARK,
	    "CJK bigrams are words, with subj: a mark");
	HAS("from:販売");
	HAS("url:jp.example.jp");
	HAS("charset:iso-2022-jp");

	fixture = "shift-jis.eml";
	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("激安");
	HAS("subj:激安");
	HAS("開催");
	HAS("ｶﾀ");             /* half-width katakana */
	HAS("free");            /* full-width letters folded */

	fixture = "shift-jis-undeclared.eml";
	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("出会");
	HAS("案内");

	fixture = "euc-jp.eml";
	CHECK(load(fixture) == 0, "%s parses", fixture);
	HAS("副業");
	HAS("万円");
}

static void
test_malformed(void)
{
	const char *fixture = "malformed.eml";

	CHECK(load(fixture) == 0, "%s parses anyway", fixture);
	HAS("subj:broken");
	HAS("survivorword");
	HAS("part:text/plain");
	HAS("part:text/html");
}

static void
test_text_rules(void)
{
	const char *fixture = "text";
	const char *text = "Win $5 now!! ab supercalifragilisticexpialidocious1234567 v\xd1\x96" "agra "
	    "Write to sales@Example.COM or visit https://user@evil.example/path today 1234";
	size_t n1;
	uint64_t first;

	tokenize_set_clear(ts);
	tokenize_text(ts, "", text, strlen(text));
	HAS("win");
	HAS("$5");
	HAS("now!!");
	HASNT("ab");
	HAS("long:a:40");
	HAS("odd:mixedscript");
	HAS("email:dom:example.com");
	HAS("email:sales");
	HAS("url:userinfo");
	HAS("url:evil.example");
	HAS("1234");
	/* determinism: the same text gives the same tokens in the same order */
	n1 = tokenize_set_count(ts);
	first = tokenize_set_hash(ts, 0);
	tokenize_set_clear(ts);
	tokenize_text(ts, "", text, strlen(text));
	CHECK(tokenize_set_count(ts) == n1 && tokenize_set_hash(ts, 0) == first, "tokenizing twice gives the same set");
	/* the stored vocabulary depends on this hash never changing */
	CHECK(tokenize_hash("viagra", 6) == 0x133f6799f5817800ULL, "token hash is stable (%#llx)",
	    (unsigned long long)tokenize_hash("viagra", 6));
	{
		struct tokset *small = tokenize_set_new(10);

		tokenize_text(small, "", text, strlen(text));
		CHECK(tokenize_set_count(small) == 10 && tokenize_set_full(small), "the set stops at its cap");
		tokenize_set_free(&small);
		CHECK(small == NULL, "tokenize_set_free sets the pointer to NULL");
	}
}

static void
test_charsets(void)
{
	size_t len;
	char *s;

	/* undeclared ISO-2022-JP: recognised by its escape sequences */
	s = mime_to_utf8(NULL, "\x1b$BF|K\\\x1b(B", 10, 100, &len);
	CHECK(s != NULL && strcmp(s, "日本") == 0, "undeclared ISO-2022-JP guessed");
	free(s);
	/* a lying declaration: Shift_JIS bytes declared as UTF-8 */
	s = mime_to_utf8("utf-8", "\x93\xfa\x96\x7b", 4, 100, &len);
	CHECK(s != NULL && strcmp(s, "日本") == 0, "Shift_JIS declared as UTF-8 recovered");
	free(s);
	/* invalid UTF-8 becomes U+FFFD, NUL is dropped */
	s = mime_to_utf8("utf-8", "a\xff" "b\0c", 5, 100, &len);
	CHECK(s != NULL && strcmp(s, "a\xef\xbf\xbd" "bc") == 0, "invalid UTF-8 replaced");
	free(s);
	/* output cap */
	s = mime_to_utf8("iso-8859-1", "\xe9\xe9\xe9\xe9", 4, 5, &len);
	CHECK(s != NULL && len <= 5, "conversion stops at its cap (%zu)", len);
	free(s);
}

int
main(void)
{
	ts = tokenize_set_new(0);
	test_multipart();
	test_nested();
	test_html_only();
	test_encodings();
	test_rfc2047();
	test_japanese();
	test_malformed();
	test_text_rules();
	test_charsets();
	tokenize_info_clear(&info);
	tokenize_set_free(&ts);
	return test_done();
}
