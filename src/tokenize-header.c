/*
 * tokenize-header.c: the header rules of tokenize.h.
 */
#include "tokenize.h"
#include "tokenize-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	TOK_SEEN_MSGID = 1 << 0,
	TOK_SEEN_DATE = 1 << 1,
	TOK_SEEN_TO = 1 << 2,
	TOK_SEEN_SUBJECT = 1 << 3,
	TOK_SEEN_MIME = 1 << 4,
};

#define HEADER_WORDS_BYTES 240
#define RECEIVED_TOKENIZED 16
#define SHORT_VALUE_MAX 70
#define SHAPE_MAX 79

static int
is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '.' || c == '_';
}

static void
lower(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] + 32);
	}
}

/* Every "@domain" in value gives prefix+domain; returns how many addresses. */
static unsigned
domains(struct tokset *ts, const char *prefix, const char *value)
{
	unsigned count = 0;

	for (const char *at = strchr(value, '@'); at != NULL; at = strchr(at + 1, '@')) {
		char d[256];
		size_t n = 0;

		for (const char *p = at + 1; is_host_char(*p) && n < sizeof(d) - 1; p++)
			d[n++] = *p;
		while (n > 0 && d[n - 1] == '.')
			n--;
		if (n == 0)
			continue;
		lower(d, n);
		tokenize_set_add(ts, prefix, d, n);
		count++;
	}
	return count;
}

static void
from_header(struct tokenize_ctx *t, const char *value)
{
	const char *lt = strchr(value, '<'), *gt, *at;
	char addr[256];
	size_t n = 0;

	/* the address: inside <>, or the first word holding an @ */
	if (lt != NULL && (gt = strchr(lt, '>')) != NULL) {
		n = (size_t)(gt - lt - 1);
		if (n >= sizeof(addr))
			n = sizeof(addr) - 1;
		memcpy(addr, lt + 1, n);
	} else if ((at = strchr(value, '@')) != NULL) {
		const char *s = at, *e = at;

		while (s > value && s[-1] != ' ' && s[-1] != '\t' && s[-1] != '(' && s[-1] != '"')
			s--;
		while (*e != '\0' && *e != ' ' && *e != '\t' && *e != ')' && *e != '"')
			e++;
		n = (size_t)(e - s);
		if (n >= sizeof(addr))
			n = sizeof(addr) - 1;
		memcpy(addr, s, n);
	}
	addr[n] = '\0';
	lower(addr, n);
	if (n > 0) {
		tokenize_set_add(t->ts, "from:addr:", addr, n);
		if ((at = strchr(addr, '@')) != NULL)
			tokenize_set_add(t->ts, "from:dom:", at + 1, strlen(at + 1));
		if (t->info != NULL && t->info->from == NULL)
			t->info->from = strdup(addr);
	}
	/* the display name */
	if (lt != NULL && lt > value) {
		size_t len = (size_t)(lt - value);

		tokenize_text_info(t->ts, NULL, "from:", value, len > HEADER_WORDS_BYTES ? HEADER_WORDS_BYTES : len);
		if (strspn(value, " \t\"'") == len)
			tokenize_set_add(t->ts, "from:", "noname", 6);
	} else if (lt == NULL && strchr(value, '(') == NULL)
		tokenize_set_add(t->ts, "from:", "noname", 6);
}

static void
received_header(struct tokenize_ctx *t, const char *value)
{
	const char *p = value;

	if (t->info != NULL && t->info->nreceived < TOKENIZE_MAX_RECEIVED) {
		char *copy = strdup(value);

		if (copy != NULL)
			t->info->received[t->info->nreceived++] = copy;
	}
	if (t->received++ >= RECEIVED_TOKENIZED)
		return;
	while (*p != '\0') {
		char w[256];
		size_t n = 0;
		int dots = 0, alpha = 0, digits_only = 1;

		while (*p != '\0' && !is_host_char(*p))
			p++;
		while (is_host_char(*p)) {
			if (n < sizeof(w) - 1)
				w[n++] = *p;
			if (*p == '.')
				dots++;
			else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_') {
				alpha = 1;
				digits_only = 0;
			}
			p++;
		}
		while (n > 0 && w[n - 1] == '.') {
			n--;
			dots--;
		}
		if (n == 0 || dots == 0)
			continue;
		w[n] = '\0';
		lower(w, n);
		if (digits_only && dots == 3) {
			char *last = strrchr(w, '.');

			tokenize_set_add(t->ts, "rcvd:ip:", w, (size_t)(last - w));
		} else if (alpha)
			tokenize_set_add(t->ts, "rcvd:", w, n);
	}
}

static void
mailer_header(struct tokenize_ctx *t, const char *value)
{
	char v[41];
	size_t n = 0;

	for (const char *p = value; *p != '\0' && n < sizeof(v) - 1; p++) {
		char c = *p;

		if (c >= '0' && c <= '9')
			c = 'N';
		else if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		v[n++] = c;
	}
	while (n > 0 && ((unsigned char)v[n - 1] & 0xC0) == 0x80)
		n--;    /* no half UTF-8 sequence at the cut */
	if (n > 0 && (unsigned char)v[n - 1] >= 0xC0)
		n--;
	tokenize_set_add(t->ts, "xm:", v, n);
}

static void
date_header(struct tokenize_ctx *t, const char *value)
{
	const char *end = value + strlen(value), *s;

	while (end > value && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == ')'))
		end--;
	s = end;
	while (s > value && s[-1] != ' ' && s[-1] != '(')
		s--;
	if (end > s && end - s <= 8) {
		char z[9];
		size_t n = (size_t)(end - s);

		memcpy(z, s, n);
		lower(z, n);
		tokenize_set_add(t->ts, "date:tz:", z, n);
	}
}

/*
 * The shape of a value: digits as N, letters as a or A, runs of one class
 * longer than two cut to two. Date, Message-ID and To shapes tell the
 * software that wrote them, not when or for whom; the Subject's shape tells
 * its capitals and punctuation.
 */
static void
shape(struct tokenize_ctx *t, const char *prefix, const char *value)
{
	char sh[SHAPE_MAX + 1];
	size_t k = 0;

	for (const char *p = value; *p != '\0' && k < sizeof(sh) - 1; p++) {
		char c = *p;

		if (c >= '0' && c <= '9')
			c = 'N';
		else if (c >= 'a' && c <= 'z')
			c = 'a';
		else if (c >= 'A' && c <= 'Z')
			c = 'A';
		if ((c == 'N' || c == 'a' || c == 'A') && k >= 2 && sh[k - 1] == c && sh[k - 2] == c)
			continue;
		sh[k++] = c;
	}
	while (k > 0 && ((unsigned char)sh[k - 1] & 0xC0) == 0x80)
		k--;    /* no half UTF-8 sequence at the cut */
	if (k > 0 && (unsigned char)sh[k - 1] >= 0xC0)
		k--;
	tokenize_set_add(t->ts, prefix, sh, k);
}

static void
subject_header(struct tokenize_ctx *t, const char *value)
{
	size_t len = strlen(value), upper = 0, letters = 0;

	if (t->info != NULL && t->info->subject == NULL)
		t->info->subject = strdup(value);
	tokenize_text_info(t->ts, NULL, "subj:", value, len);
	shape(t, "subj:shape:", value);
	/* the subject is also text the reader sees */
	tokenize_text_info(t->ts, NULL, "", value, len);
	for (size_t i = 0; i < len; i++) {
		if (value[i] >= 'A' && value[i] <= 'Z')
			upper++, letters++;
		else if (value[i] >= 'a' && value[i] <= 'z')
			letters++;
	}
	if (letters >= 3 && upper == letters)
		tokenize_set_add(t->ts, "subj:", "allcaps", 7);
	if (strstr(value, "!!") != NULL)
		tokenize_set_add(t->ts, "subj:", "!!", 2);
	if (strchr(value, '$') != NULL)
		tokenize_set_add(t->ts, "subj:", "$", 1);
	if (len == 0)
		tokenize_set_add(t->ts, "subj:", "empty", 5);
}

/* The order of headers: each name after the one before (the first after ""). */
static void
header_order(struct tokenize_ctx *t, const char *name, size_t n)
{
	char pair[sizeof(t->prev) * 2];

	if (strcmp(t->prev, name) == 0)
		return;
	snprintf(pair, sizeof(pair), "%s>%s", t->prev, name);
	tokenize_set_add(t->ts, "hseq:", pair, strlen(pair));
	memcpy(t->prev, name, n + 1);
}

static int
skipped(const char *name)
{
	return strncmp(name, "x-spam-", 7) == 0 || strncmp(name, "x-popgate-", 10) == 0 ||
	    strcmp(name, "x-bogosity") == 0;
}

/*
 * Header values that only echo others or the clock: dates say when the mail
 * was collected, not what it is, and a mailing list repeats its identity in
 * a dozen headers that would count as a dozen independent clues.
 */
static int
value_skipped(const char *name, const char *value)
{
	size_t n = strlen(name);

	if (n >= 4 && strcmp(name + n - 4, "date") == 0)
		return 1;
	if ((strncmp(name, "list-", 5) == 0 && strcmp(name, "list-id") != 0) || strcmp(name, "errors-to") == 0 ||
	    strcmp(name, "x-beenthere") == 0 || strcmp(name, "sender") == 0)
		return 1;
	return 0;
}

void
tokenize_header(void *ctx, unsigned depth, const char *rawname, const char *value)
{
	struct tokenize_ctx *t = ctx;
	char name[41];
	size_t n = strlen(rawname);

	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, rawname, n);
	name[n] = '\0';
	lower(name, n);
	if (depth > 0) {
		if (strcmp(name, "subject") == 0)
			tokenize_text_info(t->ts, NULL, "", value, strlen(value));
		return;
	}
	if (skipped(name))
		return;
	tokenize_set_add(t->ts, "hdr:", name, n);
	header_order(t, name, n);
	if (strcmp(name, "subject") == 0) {
		t->seen |= TOK_SEEN_SUBJECT;
		subject_header(t, value);
	} else if (strcmp(name, "from") == 0)
		from_header(t, value);
	else if (strcmp(name, "to") == 0 || strcmp(name, "cc") == 0) {
		unsigned c = domains(t->ts, "to:dom:", value);
		const char *bucket = c <= 1 ? "1" : c == 2 ? "2" : c <= 5 ? "3-5" : c <= 10 ? "6-10" : "11+";

		if (name[0] == 't') {
			t->seen |= TOK_SEEN_TO;
			shape(t, "to:shape:", value);
			tokenize_set_add(t->ts, "to:count:", bucket, strlen(bucket));
		}
		if (strcasestr(value, "undisclosed") != NULL)
			tokenize_set_add(t->ts, "to:", "undisclosed", 11);
	} else if (strcmp(name, "reply-to") == 0)
		domains(t->ts, "replyto:dom:", value);
	else if (strcmp(name, "return-path") == 0)
		domains(t->ts, "rp:dom:", value);
	else if (strcmp(name, "received") == 0)
		received_header(t, value);
	else if (strcmp(name, "message-id") == 0) {
		t->seen |= TOK_SEEN_MSGID;
		shape(t, "mid:shape:", value);
		if (domains(t->ts, "mid:dom:", value) == 0)
			tokenize_set_add(t->ts, "mid:", "none", 4);
	} else if (strcmp(name, "x-mailer") == 0 || strcmp(name, "user-agent") == 0)
		mailer_header(t, value);
	else if (strcmp(name, "date") == 0) {
		t->seen |= TOK_SEEN_DATE;
		shape(t, "date:shape:", value);
		date_header(t, value);
	} else if (strcmp(name, "mime-version") == 0)
		t->seen |= TOK_SEEN_MIME;
	else if (strcmp(name, "content-type") == 0) {
		char ct[64];
		size_t k = 0;

		while (value[k] != '\0' && value[k] != ';' && value[k] != ' ' && k < sizeof(ct) - 1) {
			ct[k] = value[k];
			k++;
		}
		lower(ct, k);
		tokenize_set_add(t->ts, "ct:", ct, k);
	} else if (strlen(value) <= SHORT_VALUE_MAX && !value_skipped(name, value)) {
		/* a short value is one token; long ones (relay notes,
		 * signatures) are word soup that only adds correlated noise */
		char pfx[64], v[SHORT_VALUE_MAX + 1];
		size_t k = 0;

		for (const char *p = value; *p != '\0' && k < sizeof(v) - 1; p++)
			v[k++] = (*p >= '0' && *p <= '9') ? 'N' : (*p >= 'A' && *p <= 'Z') ? (char)(*p + 32) : *p;
		snprintf(pfx, sizeof(pfx), "h:%s:", name);
		tokenize_set_add(t->ts, pfx, v, k);
	}
}

void
tokenize_headers_done(struct tokenize_ctx *t)
{
	if (!(t->seen & TOK_SEEN_MSGID))
		tokenize_set_add(t->ts, "nohdr:", "message-id", 10);
	if (!(t->seen & TOK_SEEN_DATE))
		tokenize_set_add(t->ts, "nohdr:", "date", 4);
	if (!(t->seen & TOK_SEEN_TO))
		tokenize_set_add(t->ts, "nohdr:", "to", 2);
	if (!(t->seen & TOK_SEEN_SUBJECT))
		tokenize_set_add(t->ts, "nohdr:", "subject", 7);
	if (!(t->seen & TOK_SEEN_MIME))
		tokenize_set_add(t->ts, "nohdr:", "mime-version", 12);
}
