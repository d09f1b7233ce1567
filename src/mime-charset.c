/*
 * mime-charset.c: any charset to UTF-8 (see mime.h).
 *
 * Declared charsets are trusted only as far as they convert cleanly: when a
 * declared conversion hits invalid input, the guessers get a chance and the
 * result with fewer errors wins. Guessing order for 8-bit text: UTF-8, then
 * ISO-2022-JP (if it has escape sequences), EUC-JP, Shift_JIS (each only if
 * the bytes are valid for it), then windows-1252, which accepts anything.
 */
#include "mime.h"

#include <gmime/gmime.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* windows-1252 0x80..0x9F; 0 where undefined (mapped to U+FFFD). */
static const uint16_t cp1252_high[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

struct out {
	char *p;
	size_t len, max;
};

static int
out_cp(struct out *o, uint32_t cp)
{
	char tmp[4];
	size_t n;

	if (cp < 0x80) {
		tmp[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xC0 | (cp >> 6));
		tmp[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xE0 | (cp >> 12));
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		tmp[0] = (char)(0xF0 | (cp >> 18));
		tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		tmp[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	if (o->len + n > o->max)
		return -1;
	memcpy(o->p + o->len, tmp, n);
	o->len += n;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return left >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (left < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (left < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/* Copies UTF-8, replacing invalid bytes; returns the number of errors. */
static size_t
conv_utf8(const unsigned char *in, size_t len, struct out *o)
{
	size_t errors = 0;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(in + i, len - i);

		if (n == 0) {
			errors++;
			if (out_cp(o, 0xFFFD) == -1)
				break;
			i++;
			continue;
		}
		if (in[i] == 0) {       /* NUL would cut the string short */
			i++;
			continue;
		}
		if (o->len + n > o->max)
			break;
		memcpy(o->p + o->len, in + i, n);
		o->len += n;
		i += n;
	}
	return errors;
}

static size_t
conv_cp1252(const unsigned char *in, size_t len, struct out *o, int latin1)
{
	for (size_t i = 0; i < len; i++) {
		uint32_t cp = in[i];

		if (cp == 0)
			continue;
		if (cp >= 0x80 && cp < 0xA0 && !latin1)
			cp = cp1252_high[cp - 0x80] != 0 ? cp1252_high[cp - 0x80] : 0xFFFD;
		if (out_cp(o, cp) == -1)
			break;
	}
	return 0;
}

/* Returns errors, or (size_t)-1 if iconv does not know the charset. */
static size_t
conv_iconv(const char *charset, const char *in, size_t len, struct out *o)
{
	const char *name = g_mime_charset_iconv_name(charset);
	iconv_t cd = iconv_open("UTF-8", name != NULL ? name : charset);
	char *ip = (char *)in, *op;
	size_t il = len, ol, errors = 0;

	if (cd == (iconv_t)-1)
		return (size_t)-1;
	while (il > 0) {
		op = o->p + o->len;
		ol = o->max - o->len;
		if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1) {
			o->len = o->max - ol;
			break;
		}
		o->len = o->max - ol;
		if (errno == E2BIG)
			break;
		/* EILSEQ, or EINVAL (truncated input at the end) */
		errors++;
		ip++;
		il--;
		if (out_cp(o, 0xFFFD) == -1)
			break;
	}
	/* flush the shift state (ISO-2022-JP) */
	op = o->p + o->len;
	ol = o->max - o->len;
	if (iconv(cd, NULL, NULL, &op, &ol) != (size_t)-1)
		o->len = o->max - ol;
	iconv_close(cd);
	/* iconv may emit NULs for NUL input; they would cut the text */
	for (size_t i = 0; i < o->len; i++) {
		if (o->p[i] == '\0')
			o->p[i] = ' ';
	}
	return errors;
}

static int
all_ascii(const unsigned char *in, size_t len, int *esc_r)
{
	int ascii = 1;

	*esc_r = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] >= 0x80)
			ascii = 0;
		else if (in[i] == 0x1B && i + 1 < len && (in[i + 1] == '$' || in[i + 1] == '('))
			*esc_r = 1;
	}
	return ascii;
}

static int
valid_utf8(const unsigned char *in, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(in + i, len - i);

		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

static int
valid_eucjp(const unsigned char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (in[i] < 0x80)
			continue;
		if (in[i] == 0x8E) {            /* half-width katakana */
			if (i + 1 >= len || in[i + 1] < 0xA1 || in[i + 1] > 0xDF)
				return 0;
			i++;
		} else if (in[i] == 0x8F) {     /* JIS X 0212 */
			if (i + 2 >= len || in[i + 1] < 0xA1 || in[i + 2] < 0xA1)
				return 0;
			i += 2;
		} else if (in[i] >= 0xA1 && in[i] <= 0xFE) {
			if (i + 1 >= len || in[i + 1] < 0xA1 || in[i + 1] > 0xFE)
				return 0;
			i++;
		} else
			return 0;
	}
	return 1;
}

static int
valid_sjis(const unsigned char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];

		if (c < 0x80 || (c >= 0xA1 && c <= 0xDF))
			continue;
		if ((c >= 0x81 && c <= 0x9F) || (c >= 0xE0 && c <= 0xFC)) {
			if (i + 1 >= len || in[i + 1] < 0x40 || in[i + 1] == 0x7F || in[i + 1] > 0xFC)
				return 0;
			i++;
		} else
			return 0;
	}
	return 1;
}

static void
guess(const unsigned char *in, size_t len, struct out *o)
{
	int esc;

	if (all_ascii(in, len, &esc)) {
		if (esc && conv_iconv("ISO-2022-JP", (const char *)in, len, o) != (size_t)-1)
			return;
		conv_utf8(in, len, o);
		return;
	}
	if (valid_utf8(in, len)) {
		conv_utf8(in, len, o);
		return;
	}
	if (valid_eucjp(in, len) && conv_iconv("EUC-JP", (const char *)in, len, o) != (size_t)-1)
		return;
	o->len = 0;
	if (valid_sjis(in, len) && conv_iconv("SHIFT_JIS", (const char *)in, len, o) != (size_t)-1)
		return;
	o->len = 0;
	conv_cp1252(in, len, o, 0);
}

static size_t
convert_declared(const char *cs, const unsigned char *in, size_t len, struct out *o)
{
	if (strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "us-ascii") == 0 ||
	    strcasecmp(cs, "ascii") == 0)
		return conv_utf8(in, len, o);
	if (strcasecmp(cs, "iso-8859-1") == 0 || strcasecmp(cs, "latin1") == 0)
		return conv_cp1252(in, len, o, 1);
	if (strcasecmp(cs, "windows-1252") == 0 || strcasecmp(cs, "cp1252") == 0)
		return conv_cp1252(in, len, o, 0);
	return conv_iconv(cs, (const char *)in, len, o);
}

char *
mime_to_utf8(const char *charset, const char *in, size_t len, size_t out_max, size_t *len_r)
{
	const unsigned char *u = (const unsigned char *)in;
	struct out o = { NULL, 0, out_max };
	size_t errors = (size_t)-1;

	mime_init();    /* charset name tables */
	if ((o.p = malloc(out_max + 1)) == NULL)
		return NULL;
	if (charset != NULL && *charset != '\0') {
		errors = convert_declared(charset, u, len, &o);
		if (errors == (size_t)-1)
			o.len = 0;
	}
	if (errors != 0 && errors != (size_t)-1) {
		/* The declaration lies or the text is broken: does a guess do better? */
		struct out g = { NULL, 0, out_max };
		int esc;

		if ((g.p = malloc(out_max + 1)) != NULL) {
			all_ascii(u, len, &esc);
			if (valid_utf8(u, len) || valid_eucjp(u, len) || valid_sjis(u, len) || esc) {
				guess(u, len, &g);
				free(o.p);
				o = g;
			} else
				free(g.p);
		}
	} else if (errors == (size_t)-1)
		guess(u, len, &o);
	o.p[o.len] = '\0';
	*len_r = o.len;
	return o.p;
}
