#include "pop3-dot.h"

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
