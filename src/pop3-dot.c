#include "pop3-dot.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void
pop3_dot_init(struct pop3_dot *d)
{
	d->line_start = 1;
	d->any = 0;
}

size_t
pop3_dot_encode(struct pop3_dot *d, const char *in, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (d->line_start && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		d->line_start = in[i] == '\n';
	}
	if (len > 0)
		d->any = 1;
	return o;
}

size_t
pop3_dot_finish(struct pop3_dot *d, char *out)
{
	size_t o = 0;

	if (d->any && !d->line_start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

int
pop3_split_args(char *line, char **argv, int max)
{
	int argc = 0;
	char *p = line;

	while (*p == ' ')
		p++;
	while (*p != '\0') {
		if (argc == max)
			return -1;
		argv[argc++] = p;
		if (argc == 2 && strcasecmp(argv[0], "PASS") == 0)
			return argc;	/* a password may hold spaces */
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p == ' ') {
			*p++ = '\0';
			while (*p == ' ')
				p++;
		}
	}
	return argc;
}

void
pop3_subject_init(struct pop3_subject *ps)
{
	ps->line_start = 1;
	ps->matched = 0;
	ps->blank = 1;
	ps->done = 0;
	ps->found = 0;
}

size_t
pop3_subject_find(struct pop3_subject *ps, const char *in, size_t len)
{
	static const char name[] = "subject:";

	for (size_t i = 0; i < len && !ps->done; i++) {
		char c = in[i];

		if (c == '\n') {
			if (ps->blank)
				ps->done = 1;	/* end of the header block: no Subject */
			ps->line_start = 1;
			ps->matched = 0;
			ps->blank = 1;
			continue;
		}
		if (c != '\r')
			ps->blank = 0;
		if (ps->line_start || ps->matched > 0) {
			ps->line_start = 0;
			if (tolower((unsigned char)c) == name[ps->matched]) {
				if (++ps->matched == (int)sizeof(name) - 1) {
					ps->done = 1;
					ps->found = 1;
					return i + 1;
				}
			} else
				ps->matched = -1;
		}
	}
	return len;
}
