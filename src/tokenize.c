/*
 * tokenize.c: the text rules and the glue from mime to the token set. The
 * header rules are in tokenize-header.c. See tokenize.h for the vocabulary.
 */
#include "tokenize.h"
#include "tokenize-int.h"
#include "mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WORD_MIN 3
#define WORD_MAX 24

/* Decodes one UTF-8 code point (input is valid UTF-8 from mime); returns its length. */
size_t
tokenize_utf8_next(const unsigned char *s, size_t left, uint32_t *cp_r)
{
	unsigned char c = s[0];

	if (c < 0x80 || left < 2) {
		*cp_r = c;
		return 1;
	}
	if (c < 0xE0) {
		*cp_r = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
		return 2;
	}
	if (c < 0xF0 || left < 4) {
		if (left < 3) {
			*cp_r = 0xFFFD;
			return left;
		}
		*cp_r = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
		return 3;
	}
	*cp_r = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
	    (s[3] & 0x3F);
	return 4;
}

int
tokenize_is_cjk(uint32_t cp)
{
	return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
	    (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
	    (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFF66 && cp <= 0xFF9F) ||
	    (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
	    (cp >= 0x20000 && cp <= 0x2FFFF);
}

/* Letters and digits outside ASCII that are not CJK, punctuation or symbols. */
static int
is_letter_ext(uint32_t cp)
{
	if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7 || cp == 0xFFFD)
		return 0;
	if (cp >= 0x2000 && cp <= 0x2BFF)      /* punctuation, symbols, arrows, boxes */
		return 0;
	if (cp >= 0x3000 && cp <= 0x303F)      /* CJK punctuation */
		return 0;
	if (cp >= 0xFE00 && cp <= 0xFE6F)
		return 0;
	if (cp >= 0xFF00 && cp <= 0xFF65)      /* fullwidth forms: handled by fold_fullwidth */
		return 0;
	if (cp >= 0xFFF0 && cp <= 0xFFFF)
		return 0;
	if (cp >= 0x1F000)                     /* emoji and friends */
		return 0;
	return !tokenize_is_cjk(cp);
}

/* Fullwidth ASCII letters and digits as ASCII; 0 if not one. */
static uint32_t
fold_fullwidth(uint32_t cp)
{
	if ((cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A))
		return cp - 0xFF00 + 0x20;
	return 0;
}

static int
is_space_cp(uint32_t cp)
{
	return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' || cp == '\f' || cp == '\v' ||
	    cp == 0xA0 || cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200B) || cp == 0xFEFF;
}

/* Chunk separators besides white space and CJK. */
static int
is_chunk_sep(uint32_t cp)
{
	return cp == '(' || cp == ')' || cp == '[' || cp == ']' || cp == '{' || cp == '}' || cp == '<' ||
	    cp == '>' || cp == '"' || cp == '|' || cp == '*' || cp == '^' || cp == '`' || cp == '\\' ||
	    (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
	    (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) ||
	    cp == 0xAB || cp == 0xBB || (cp >= 0x2010 && cp <= 0x206F);
}

static int
is_word_ascii(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '$' ||
	    c == '\'' || c == '-' ||
	    c == '.' || c == '!' || c == '%' || c == '_';
}

static int
is_trim(char c)
{
	return c == '\'' || c == '-' || c == '.' || c == '_';
}

/* One word (already lower-cased ASCII, valid UTF-8). */
static void
emit_word(struct tokset *ts, const char *prefix, const char *w, size_t len, int mixed)
{
	while (len > 0 && is_trim(w[0])) {
		w++;
		len--;
	}
	while (len > 0 && is_trim(w[len - 1]))
		len--;
	if (len == 0)
		return;
	if (len > WORD_MAX) {
		char sum[32];
		char cls = ((unsigned char)w[0] >= 0x80) ? 'x' : (w[0] >= '0' && w[0] <= '9') ? 'd' : 'a';

		snprintf(sum, sizeof(sum), "long:%c:%zu", cls, len / 8 * 8);
		tokenize_set_add(ts, prefix, sum, strlen(sum));
		return;
	}
	if (len < WORD_MIN && !(w[0] == '$' && len >= 2)) {
		/* short non-ASCII words (Cyrillic, Greek, ...) still carry meaning */
		if (!((unsigned char)w[0] >= 0x80 && len >= 2))
			return;
	}
	tokenize_set_add(ts, prefix, w, len);
	if (mixed)
		tokenize_set_add(ts, prefix, "odd:mixedscript", 15);
}

/* Splits a chunk (lower-cased, fullwidth folded) into words. */
static void
split_words(struct tokset *ts, const char *prefix, const char *c, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start = i;
		int ascii_letter = 0, other_script = 0;

		while (i < len) {
			unsigned char ch = (unsigned char)c[i];
			uint32_t cp;
			size_t n;

			if (ch < 0x80) {
				if (!is_word_ascii(ch))
					break;
				if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')
					ascii_letter = 1;
				i++;
				continue;
			}
			n = tokenize_utf8_next((const unsigned char *)c + i, len - i, &cp);
			if (!is_letter_ext(cp))
				break;
			/* Latin with accents is ordinary; Greek, Cyrillic and beyond
			 * next to ASCII letters is the look-alike trick */
			if (cp >= 0x370)
				other_script = 1;
			i += n;
		}
		if (i > start)
			emit_word(ts, prefix, c + start, i - start, ascii_letter && other_script);
		/* skip the separator */
		if (i < len) {
			uint32_t cp;

			i += tokenize_utf8_next((const unsigned char *)c + i, len - i, &cp);
		}
	}
}

static int
add_domain(struct tokenize_info *info, const char *host, size_t len)
{
	if (info == NULL || info->ndomains >= TOKENIZE_MAX_DOMAINS || len == 0)
		return 0;
	for (size_t i = 0; i < info->ndomains; i++) {
		if (strlen(info->domains[i]) == len && memcmp(info->domains[i], host, len) == 0)
			return 0;
	}
	if ((info->domains[info->ndomains] = strndup(host, len)) != NULL)
		info->ndomains++;
	return 1;
}

/* Host tokens: the full host, its last two and three labels. */
void
tokenize_host(struct tokset *ts, const char *prefix, const char *host, size_t len)
{
	char pfx[32];
	int dots = 0, numeric = 1;

	while (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return;
	for (size_t i = 0; i < len; i++) {
		if (host[i] == '.')
			dots++;
		else if (!(host[i] >= '0' && host[i] <= '9'))
			numeric = 0;
	}
	if (numeric && dots == 3) {
		snprintf(pfx, sizeof(pfx), "%s", prefix);
		tokenize_set_add(ts, pfx, "ip", 2);
		return;
	}
	tokenize_set_add(ts, prefix, host, len);
	dots = 0;
	for (size_t i = len; i > 0; i--) {
		if (host[i - 1] == '.' && ++dots <= 3 && dots >= 2)
			tokenize_set_add(ts, prefix, host + i, len - i);
	}
}

static void
url_chunk(struct tokset *ts, struct tokenize_info *info, const char *c, size_t len)
{
	size_t i = 0, h0, h1;
	char scheme[16];

	if (len > 7 && strncmp(c, "http://", 7) == 0) {
		i = 7;
		strcpy(scheme, "http");
	} else if (len > 8 && strncmp(c, "https://", 8) == 0) {
		i = 8;
		strcpy(scheme, "https");
	} else
		strcpy(scheme, "www");
	tokenize_set_add(ts, "proto:", scheme, strlen(scheme));
	h0 = i;
	while (i < len && c[i] != '/' && c[i] != '?' && c[i] != '#' && c[i] != ':' && c[i] != '@')
		i++;
	if (i < len && c[i] == '@') {   /* http://user@host: the host comes after */
		tokenize_set_add(ts, "url:", "userinfo", 8);
		h0 = ++i;
		while (i < len && c[i] != '/' && c[i] != '?' && c[i] != '#' && c[i] != ':')
			i++;
	}
	h1 = i;
	while (h1 > h0 && (c[h1 - 1] == '.' || c[h1 - 1] == ','))
		h1--;
	if (h1 > h0) {
		tokenize_host(ts, "url:", c + h0, h1 - h0);
		add_domain(info, c + h0, h1 - h0);
	}
	/* path words */
	while (i < len) {
		size_t s;

		while (i < len && !((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9')))
			i++;
		s = i;
		while (i < len && ((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9')))
			i++;
		if (i - s >= 3 && i - s <= WORD_MAX)
			tokenize_set_add(ts, "urlp:", c + s, i - s);
	}
}

static int
email_chunk(struct tokset *ts, const char *prefix, const char *c, size_t len)
{
	const char *at = memchr(c, '@', len), *dot;
	size_t nlen, dlen;

	if (at == NULL || at == c)
		return 0;
	nlen = (size_t)(at - c);
	dlen = len - nlen - 1;
	while (dlen > 0 && (at[dlen] == '.' || at[dlen] == ','))
		dlen--;
	if (dlen < 3 || (dot = memchr(at + 1, '.', dlen)) == NULL)
		return 0;
	(void)dot;
	while (nlen > 0 && (c[0] == '<' || c[0] == ':' || c[0] == '\'')) {
		c++;
		nlen--;
	}
	{
		char pfx[48];

		snprintf(pfx, sizeof(pfx), "%semail:dom:", prefix);
		tokenize_set_add(ts, pfx, at + 1, dlen);
		snprintf(pfx, sizeof(pfx), "%semail:", prefix);
		if (nlen >= 1 && nlen <= WORD_MAX)
			tokenize_set_add(ts, pfx, c, nlen);
	}
	return 1;
}

static void
chunk(struct tokset *ts, struct tokenize_info *info, const char *prefix, const char *c, size_t len)
{
	if (len == 0)
		return;
	if (prefix[0] == '\0' && ((len > 7 && strncmp(c, "http://", 7) == 0) ||
	    (len > 8 && strncmp(c, "https://", 8) == 0) || (len > 4 && strncmp(c, "www.", 4) == 0))) {
		url_chunk(ts, info, c, len);
		return;
	}
	if (memchr(c, '@', len) != NULL && email_chunk(ts, prefix, c, len))
		return;
	split_words(ts, prefix, c, len);
}

static void
cjk_run(struct tokset *ts, const char *prefix, const char *s, size_t len, size_t nchars)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	uint32_t cp;

	if (nchars == 1) {
		tokenize_set_add(ts, prefix, s, len);
		return;
	}
	while (i < len) {
		size_t a = tokenize_utf8_next(u + i, len - i, &cp), b;

		if (i + a >= len)
			break;
		b = tokenize_utf8_next(u + i + a, len - i - a, &cp);
		tokenize_set_add(ts, prefix, s + i, a + b);
		i += a;
	}
}

/* The body rules for a whole text, as in tokenize.h. */
static void
text_rules(struct tokset *ts, struct tokenize_info *info, const char *prefix, const char *utf8, size_t len)
{
	const unsigned char *u = (const unsigned char *)utf8;
	char buf[512];
	size_t blen = 0, i = 0;

	while (i < len) {
		uint32_t cp, f;
		size_t n;

		if (u[i] < 0x80) {
			/* the common case, kept short */
			unsigned char c = u[i++];

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c < 0x20 || is_chunk_sep(c)) {
				if (blen > 0) {
					chunk(ts, info, prefix, buf, blen);
					blen = 0;
					if (tokenize_set_full(ts))
						return;
				}
				continue;
			}
			if (blen + 1 > sizeof(buf)) {
				chunk(ts, info, prefix, buf, blen);
				blen = 0;
			}
			buf[blen++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			continue;
		}
		n = tokenize_utf8_next(u + i, len - i, &cp);
		if (tokenize_is_cjk(cp)) {
			size_t s = i, nch = 0;

			chunk(ts, info, prefix, buf, blen);
			blen = 0;
			while (i < len) {
				n = tokenize_utf8_next(u + i, len - i, &cp);
				if (!tokenize_is_cjk(cp))
					break;
				i += n;
				nch++;
			}
			cjk_run(ts, prefix, utf8 + s, i - s, nch);
			continue;
		}
		i += n;
		if (is_space_cp(cp) || is_chunk_sep(cp) || cp < 0x20) {
			chunk(ts, info, prefix, buf, blen);
			blen = 0;
			continue;
		}
		if ((f = fold_fullwidth(cp)) != 0)
			cp = f;
		if (cp >= 'A' && cp <= 'Z')
			cp += 32;
		if (blen + n > sizeof(buf)) {
			/* an absurdly long chunk: tokenize what we have, go on */
			chunk(ts, info, prefix, buf, blen);
			blen = 0;
		}
		if (cp < 0x80)
			buf[blen++] = (char)cp;
		else {
			memcpy(buf + blen, utf8 + i - n, n);
			blen += n;
		}
	}
	chunk(ts, info, prefix, buf, blen);
}

void
tokenize_text(struct tokset *ts, const char *prefix, const char *utf8, size_t len)
{
	text_rules(ts, NULL, prefix, utf8, len);
}

void
tokenize_text_info(struct tokset *ts, struct tokenize_info *info, const char *prefix, const char *utf8, size_t len)
{
	text_rules(ts, info, prefix, utf8, len);
}

void
tokenize_info_clear(struct tokenize_info *info)
{
	for (size_t i = 0; i < info->nreceived; i++)
		free(info->received[i]);
	for (size_t i = 0; i < info->ndomains; i++)
		free(info->domains[i]);
	free(info->from);
	free(info->subject);
	memset(info, 0, sizeof(*info));
}

/* ---- the mime sink ---- */

static void
sink_text(void *ctx, const char *utf8, size_t len, int html)
{
	struct tokenize_ctx *t = ctx;

	text_rules(t->ts, t->info, "", utf8, len);
}

/*
 * Tag names say more about the sender's HTML editor than about spam (and
 * measured worse on the SpamAssassin corpus); only the risky ones count.
 */
static void
sink_feature(void *ctx, const char *name)
{
	static const char *risky[] = {
		"tag:script", "tag:iframe", "tag:form", "tag:object", "tag:embed", "tag:applet", NULL
	};
	struct tokenize_ctx *t = ctx;

	if (strncmp(name, "tag:", 4) == 0) {
		int keep = 0;

		for (int i = 0; risky[i] != NULL; i++)
			keep |= strcmp(name, risky[i]) == 0;
		if (!keep)
			return;
	}
	tokenize_set_add(t->ts, "html:", name, strlen(name));
}

static void
sink_url(void *ctx, const char *url, size_t len)
{
	struct tokenize_ctx *t = ctx;
	char buf[512];
	size_t n = 0;

	for (size_t i = 0; i < len && n < sizeof(buf); i++) {
		char c = url[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (n > 7 && (strncmp(buf, "http://", 7) == 0 || strncmp(buf, "https://", 8) == 0 ||
	    strncmp(buf, "www.", 4) == 0))
		url_chunk(t->ts, t->info, buf, n);
	else if (n > 7 && strncmp(buf, "mailto:", 7) == 0)
		email_chunk(t->ts, "", buf + 7, n - 7);
}

static void
sink_part(void *ctx, const char *ctype, const char *filename, const char *charset)
{
	struct tokenize_ctx *t = ctx;

	tokenize_set_add(t->ts, "part:", ctype, strlen(ctype));
	if (charset != NULL && *charset != '\0') {
		char cs[40];
		size_t n = 0;

		for (; charset[n] != '\0' && n < sizeof(cs) - 1; n++)
			cs[n] = (char)(charset[n] >= 'A' && charset[n] <= 'Z' ? charset[n] + 32 : charset[n]);
		tokenize_set_add(t->ts, "charset:", cs, n);
	}
	if (filename != NULL && *filename != '\0') {
		const char *dot = strrchr(filename, '.');

		if (dot != NULL && strlen(dot + 1) > 0 && strlen(dot + 1) <= 8) {
			char ext[9];
			size_t n = 0;

			for (const char *p = dot + 1; *p != '\0'; p++)
				ext[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			tokenize_set_add(t->ts, "att:ext:", ext, n);
		}
		text_rules(t->ts, NULL, "att:name:", filename, strlen(filename));
	}
}

static const struct mime_sink tok_sink = {
	.header = tokenize_header,
	.part = sink_part,
	.text = sink_text,
	.feature = sink_feature,
	.url = sink_url,
};

static void
finish(struct tokenize_ctx *t)
{
	tokenize_headers_done(t);
}

int
tokenize_fd(struct tokset *ts, struct tokenize_info *info, int fd, const char **error_r)
{
	struct tokenize_ctx t;
	int ret;

	memset(&t, 0, sizeof(t));
	t.ts = ts;
	t.info = info;
	ret = mime_parse_fd(fd, NULL, &tok_sink, &t, error_r);
	finish(&t);
	return ret;
}

int
tokenize_mem(struct tokset *ts, struct tokenize_info *info, const void *buf, size_t len, const char **error_r)
{
	struct tokenize_ctx t;
	int ret;

	memset(&t, 0, sizeof(t));
	t.ts = ts;
	t.info = info;
	ret = mime_parse_mem(buf, len, NULL, &tok_sink, &t, error_r);
	finish(&t);
	return ret;
}
