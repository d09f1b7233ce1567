/*
 * mime-html.c: HTML reduced to the text a reader would see (see mime.h).
 *
 * Not a conforming HTML parser; a forgiving scanner for what mail carries.
 * Inline tags vanish without a trace so "v<b></b>iagra" reads "viagra" as
 * it does on screen; block tags become line breaks. Script, style and
 * comments are dropped but reported as features, as are the tag names, hidden
 * styles and the URLs of href, src and action attributes.
 */
#include "mime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct html {
	const char *s;
	size_t len, i;
	char *out;
	size_t olen, omax;
	const struct mime_sink *sink;
	void *ctx;
};

static const char *block_tags[] = {
	"br", "p", "div", "td", "th", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
	"hr", "blockquote", "pre", "title", "center", "dd", "dt", "tbody", "form", "option", "body", "head",
	NULL
};

static void
emit(struct html *h, const char *p, size_t n)
{
	if (h->olen + n > h->omax)
		n = h->omax - h->olen;
	memcpy(h->out + h->olen, p, n);
	h->olen += n;
}

static void
emit_cp(struct html *h, uint32_t cp)
{
	char t[4];
	size_t n;

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xC0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xE0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		t[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		t[0] = (char)(0xF0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		t[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	if (h->olen + n <= h->omax) {
		memcpy(h->out + h->olen, t, n);
		h->olen += n;
	}
}

static void
feature(struct html *h, const char *name)
{
	if (h->sink != NULL && h->sink->feature != NULL)
		h->sink->feature(h->ctx, name);
}

/* At '&': decodes one entity, or emits the '&' itself. */
static void
entity(struct html *h)
{
	static const struct { const char *name; uint32_t cp; } names[] = {
		{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
		{ "nbsp", ' ' }, { "copy", 0xA9 }, { "reg", 0xAE }, { "trade", 0x2122 }, { "euro", 0x20AC },
		{ "pound", 0xA3 }, { "yen", 0xA5 }, { "cent", 0xA2 }, { "middot", 0xB7 }, { "bull", 0x2022 },
		{ "hellip", 0x2026 }, { "eacute", 0xE9 }, { "egrave", 0xE8 }, { "ecirc", 0xEA },
		{ "aacute", 0xE1 }, { "agrave", 0xE0 }, { "acirc", 0xE2 }, { "auml", 0xE4 }, { "ouml", 0xF6 },
		{ "uuml", 0xFC }, { "Auml", 0xC4 }, { "Ouml", 0xD6 }, { "Uuml", 0xDC }, { "szlig", 0xDF },
		{ "ccedil", 0xE7 }, { "ntilde", 0xF1 }, { "iacute", 0xED }, { "oacute", 0xF3 }, { "uacute", 0xFA },
		{ "mdash", 0x2014 }, { "ndash", 0x2013 }, { "laquo", 0xAB }, { "raquo", 0xBB },
		{ NULL, 0 }
	};
	const char *s = h->s + h->i + 1;
	size_t left = h->len - h->i - 1, n = 0;
	uint32_t cp = 0;

	if (left > 0 && s[0] == '#') {
		int hex = left > 1 && (s[1] == 'x' || s[1] == 'X');
		size_t j = hex ? 2 : 1, digits = 0;

		for (; j < left && digits < 8; j++, digits++) {
			char c = s[j];

			if (c >= '0' && c <= '9')
				cp = cp * (hex ? 16 : 10) + (uint32_t)(c - '0');
			else if (hex && ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))
				cp = cp * 16 + (uint32_t)((c | 0x20) - 'a' + 10);
			else
				break;
		}
		if (digits > 0) {
			if (j < left && s[j] == ';')
				j++;
			feature(h, "entity:numeric");
			emit_cp(h, cp);
			h->i += 1 + j;
			return;
		}
	} else {
		while (n < left && n < 8 && ((s[n] | 0x20) >= 'a' && (s[n] | 0x20) <= 'z'))
			n++;
		for (int k = 0; names[k].name != NULL; k++) {
			if (strlen(names[k].name) == n && strncmp(s, names[k].name, n) == 0) {
				emit_cp(h, names[k].cp);
				h->i += 1 + n + (n < left && s[n] == ';');
				return;
			}
		}
	}
	emit(h, "&", 1);
	h->i++;
}

/* Finds needle (lower case) case-insensitively from h->i; returns index or len. */
static size_t
find_ci(const struct html *h, size_t from, const char *needle)
{
	size_t nl = strlen(needle);

	for (size_t j = from; j + nl <= h->len; j++) {
		if (strncasecmp(h->s + j, needle, nl) == 0)
			return j;
	}
	return h->len;
}

static int
style_hidden(const char *v, size_t n)
{
	char buf[256];
	size_t k = 0;

	/* squeeze spaces and lower-case so "display : none" matches */
	for (size_t j = 0; j < n && k < sizeof(buf) - 1; j++) {
		if (v[j] == ' ' || v[j] == '\t')
			continue;
		buf[k++] = (char)((v[j] >= 'A' && v[j] <= 'Z') ? v[j] + 32 : v[j]);
	}
	buf[k] = '\0';
	return strstr(buf, "display:none") != NULL || strstr(buf, "visibility:hidden") != NULL ||
	    strstr(buf, "font-size:0") != NULL || strstr(buf, "font-size:1px") != NULL;
}

static void
attribute(struct html *h, const char *tag, const char *name, size_t nlen, const char *v, size_t vlen)
{
	if ((nlen == 4 && strncasecmp(name, "href", 4) == 0) || (nlen == 3 && strncasecmp(name, "src", 3) == 0) ||
	    (nlen == 6 && strncasecmp(name, "action", 6) == 0) ||
	    (nlen == 10 && strncasecmp(name, "background", 10) == 0)) {
		if (h->sink != NULL && h->sink->url != NULL && vlen > 0)
			h->sink->url(h->ctx, v, vlen);
		if (vlen >= 7 && strncasecmp(v, "mailto:", 7) == 0)
			feature(h, "mailto");
	} else if (nlen == 5 && strncasecmp(name, "style", 5) == 0) {
		if (style_hidden(v, vlen))
			feature(h, "hidden");
	} else if (nlen == 5 && strncasecmp(name, "color", 5) == 0 && strcmp(tag, "font") == 0) {
		if (vlen >= 4 && (strncasecmp(v, "#fff", 4) == 0 || strncasecmp(v, "white", 5) == 0))
			feature(h, "font:white");
	} else if (nlen == 4 && strncasecmp(name, "size", 4) == 0 && strcmp(tag, "font") == 0) {
		if (vlen >= 1 && (v[0] == '0' || v[0] == '1' || v[0] == '-'))
			feature(h, "font:tiny");
	}
}

/* At '<' with a tag name following; end is the index of the closing '>'. */
static void
tag(struct html *h, size_t end)
{
	const char *s = h->s;
	size_t j = h->i + 1;
	int closing = 0;
	char name[16], feat[32];
	size_t nl = 0;

	if (j < end && s[j] == '/') {
		closing = 1;
		j++;
	}
	while (j < end && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z' ? 1 : (s[j] >= '0' && s[j] <= '9'))) {
		if (nl < sizeof(name) - 1)
			name[nl++] = (char)(s[j] | 0x20);
		j++;
	}
	name[nl] = '\0';
	h->i = end + 1;
	for (int k = 0; block_tags[k] != NULL; k++) {
		if (strcmp(name, block_tags[k]) == 0) {
			emit(h, "\n", 1);
			break;
		}
	}
	if (closing || nl == 0)
		return;
	snprintf(feat, sizeof(feat), "tag:%s", name);
	feature(h, feat);
	/* attributes */
	while (j < end) {
		size_t an, a0, v0 = 0, vn = 0;

		while (j < end && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n' || s[j] == '/'))
			j++;
		a0 = j;
		while (j < end && s[j] != '=' && s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n')
			j++;
		an = j - a0;
		while (j < end && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
			j++;
		if (j < end && s[j] == '=') {
			j++;
			while (j < end && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
				j++;
			if (j < end && (s[j] == '"' || s[j] == '\'')) {
				char q = s[j++];

				v0 = j;
				while (j < end && s[j] != q)
					j++;
				vn = j - v0;
				if (j < end)
					j++;
			} else {
				v0 = j;
				while (j < end && s[j] != ' ' && s[j] != '\t' && s[j] != '\r' && s[j] != '\n')
					j++;
				vn = j - v0;
			}
		}
		if (an == 0 && vn == 0) {
			j++;
			continue;
		}
		attribute(h, name, s + a0, an, s + v0, vn);
	}
	if (strcmp(name, "script") == 0 || strcmp(name, "style") == 0) {
		size_t close = find_ci(h, h->i, name[1] == 'c' ? "</script" : "</style");
		size_t gt;

		if (close >= h->len) {
			h->i = h->len;
			return;
		}
		gt = close;
		while (gt < h->len && h->s[gt] != '>')
			gt++;
		h->i = gt < h->len ? gt + 1 : h->len;
	}
}

size_t
mime_html_to_text(const char *html, size_t len, char *out, size_t out_max, const struct mime_sink *sink,
    void *ctx)
{
	struct html h = { html, len, 0, out, 0, out_max, sink, ctx };

	while (h.i < h.len && h.olen < h.omax) {
		char c = h.s[h.i];

		if (c == '&') {
			entity(&h);
			continue;
		}
		if (c != '<') {
			size_t j = h.i;

			while (j < h.len && h.s[j] != '<' && h.s[j] != '&')
				j++;
			emit(&h, h.s + h.i, j - h.i);
			h.i = j;
			continue;
		}
		if (h.i + 3 < h.len && strncmp(h.s + h.i, "<!--", 4) == 0) {
			size_t e = h.i + 4;

			while (e + 2 < h.len && strncmp(h.s + e, "-->", 3) != 0)
				e++;
			feature(&h, "comment");
			h.i = e + 2 < h.len ? e + 3 : h.len;
			continue;
		}
		if (h.i + 1 < h.len && ((((h.s[h.i + 1] | 0x20) >= 'a' && (h.s[h.i + 1] | 0x20) <= 'z')) ||
		    h.s[h.i + 1] == '/' || h.s[h.i + 1] == '!' || h.s[h.i + 1] == '?')) {
			size_t e = h.i + 1, limit = h.i + 4096 < h.len ? h.i + 4096 : h.len;
			char q = 0;

			for (; e < limit; e++) {
				if (q != 0) {
					if (h.s[e] == q)
						q = 0;
				} else if (h.s[e] == '"' || h.s[e] == '\'') {
					/* quotes only count inside attribute values */
					if (h.s[e - 1] == '=' || h.s[e - 1] == ' ')
						q = h.s[e];
				} else if (h.s[e] == '>')
					break;
			}
			if (e < limit) {
				if (h.s[h.i + 1] == '!' || h.s[h.i + 1] == '?')
					h.i = e + 1;
				else
					tag(&h, e);
				continue;
			}
		}
		emit(&h, "<", 1);
		h.i++;
	}
	return h.olen;
}
