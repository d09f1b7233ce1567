/*
 * pop3-client-parse: status lines, listings, the APOP timestamp and the
 * streaming dot-unstuffing of multi-line replies. Pure functions of their
 * input, so they can be unit tested and fuzzed without a server.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3-client.h"

int
pop3c_parse_status(const char *line, struct pop3c_status *st)
{
	const char *p, *end;
	size_t len;

	memset(st, 0, sizeof *st);
	if (strncasecmp(line, "+OK", 3) == 0 && (line[3] == '\0' || line[3] == ' ')) {
		st->ok = 1;
		p = line + 3;
	} else if (strncasecmp(line, "-ERR", 4) == 0 && (line[4] == '\0' || line[4] == ' ')) {
		p = line + 4;
	} else if (line[0] == '+' && (line[1] == '\0' || line[1] == ' ')) {
		st->cont = 1;
		st->text = line[1] == ' ' ? line + 2 : line + 1;
		return 0;
	} else
		return -1;
	while (*p == ' ')
		p++;
	/* RFC 2449 section 8: "[CODE]" right after the status. */
	if (*p == '[' && (end = strchr(p, ']')) != NULL) {
		len = (size_t)(end - p - 1);
		if (len > 0 && len < sizeof st->code && memchr(p + 1, ' ', len) == NULL) {
			memcpy(st->code, p + 1, len);
			st->code[len] = '\0';
			p = end + 1;
			while (*p == ' ')
				p++;
		}
	}
	st->text = p;
	return 0;
}

/* Parses a message number (1..UINT_MAX) at *pp, moving past it. */
static int
parse_num(const char **pp, unsigned long long max, unsigned long long *n_r)
{
	const char *p = *pp;
	unsigned long long n = 0;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (unsigned)(*p - '0');
		if (n > max)
			return -1;
	}
	*n_r = n;
	*pp = p;
	return 0;
}

int
pop3c_parse_uidl(const char *line, unsigned *num_r, char *uidl, size_t uidlsize)
{
	const char *p = line, *start;
	unsigned long long n;
	size_t len;

	if (parse_num(&p, UINT_MAX, &n) == -1 || n == 0 || *p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	start = p;
	/* RFC 1939: 1 to 70 characters in 0x21..0x7E; longer ones still work. */
	while (*p > 0x20 && *p < 0x7f)
		p++;
	len = (size_t)(p - start);
	while (*p == ' ' || *p == '\t')
		p++;
	if (len == 0 || *p != '\0' || len >= uidlsize)
		return -1;
	memcpy(uidl, start, len);
	uidl[len] = '\0';
	*num_r = (unsigned)n;
	return 0;
}

int
pop3c_parse_list(const char *line, unsigned *num_r, int64_t *size_r)
{
	const char *p = line;
	unsigned long long n, size;

	if (parse_num(&p, UINT_MAX, &n) == -1 || *p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	if (parse_num(&p, INT64_MAX, &size) == -1)
		return -1;
	/* Anything after the size is allowed (RFC 1939 leaves room for it). */
	if (*p != '\0' && *p != ' ')
		return -1;
	*num_r = (unsigned)n;
	*size_r = (int64_t)size;
	return 0;
}

int
pop3c_apop_timestamp(const char *greeting, char *ts, size_t tssize)
{
	const char *open, *close, *p;
	size_t len;

	if ((open = strchr(greeting, '<')) == NULL || (close = strchr(open, '>')) == NULL)
		return -1;
	len = (size_t)(close - open + 1);
	if (len < 3 || len >= tssize)
		return -1;
	for (p = open + 1; p < close; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '<')
			return -1;
	if (memchr(open, '@', len) == NULL)
		return -1;
	memcpy(ts, open, len);
	ts[len] = '\0';
	return 0;
}

enum {
	DOT_BOL,	/* at the start of a line */
	DOT_MID,	/* inside a line */
	DOT_CR,		/* after a CR inside a line */
	DOT_DOT,	/* after a dot at the start of a line */
	DOT_DOTCR,	/* after ".\r" at the start of a line */
};

void
pop3c_dot_init(struct pop3c_dot *d)
{
	d->state = DOT_BOL;
	d->done = 0;
}

size_t
pop3c_dot_decode(struct pop3c_dot *d, const char *in, size_t len, char *out, size_t *out_len)
{
	size_t i, o = 0;
	char ch;

	for (i = 0; i < len && !d->done; i++) {
		ch = in[i];
		switch (d->state) {
		case DOT_DOT:
			if (ch == '\r') {
				d->state = DOT_DOTCR;
				continue;
			}
			if (ch == '\n') {
				d->done = 1;
				continue;
			}
			/* A stuffed dot: drop it, the byte is data. */
			d->state = DOT_MID;
			break;
		case DOT_DOTCR:
			if (ch == '\n') {
				d->done = 1;
				continue;
			}
			out[o++] = '\r';	/* ".\rX": the CR was data */
			d->state = DOT_MID;
			break;
		case DOT_BOL:
			if (ch == '.') {
				d->state = DOT_DOT;
				continue;
			}
			d->state = DOT_MID;
			break;
		case DOT_CR:
			if (ch == '\n')
				break;
			out[o++] = '\r';	/* a bare CR is data */
			d->state = DOT_MID;
			break;
		}
		/* DOT_MID, or DOT_CR followed by LF */
		if (ch == '\r' && d->state == DOT_MID)
			d->state = DOT_CR;
		else if (ch == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			d->state = DOT_BOL;
		} else
			out[o++] = ch;
	}
	*out_len = o;
	return i;
}
