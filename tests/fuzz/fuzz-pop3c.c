/*
 * Fuzzes what pop3-client parses from an upstream server: every line of
 * the input goes through the status, UIDL, LIST and APOP parsers, and the
 * whole input through the dot-unstuffing decoder, once in one piece and
 * once in chunks whose sizes come from the data; both must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
decode_all(const char *in, size_t len, const uint8_t *steps, size_t nsteps, char *out, int *done_r)
{
	struct pop3c_dot d;
	size_t pos = 0, total = 0, olen, used, step, k = 0;

	pop3c_dot_init(&d);
	while (pos < len && !d.done) {
		step = nsteps ? (size_t)steps[k++ % nsteps] % 17 + 1 : len - pos;
		if (step > len - pos)
			step = len - pos;
		used = pop3c_dot_decode(&d, in + pos, step, out + total, &olen);
		if (used > step || olen > 2 * used)
			abort();
		pos += used;
		total += olen;
	}
	*done_r = d.done;
	return total;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3c_status st;
	char *text, *line, *save = NULL, *out1, *out2;
	char uidl[71], ts[128];
	unsigned num;
	int64_t lsize;
	size_t n1, n2;
	int done1, done2;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\r\n", &save); line != NULL; line = strtok_r(NULL, "\r\n", &save)) {
		if (pop3c_parse_status(line, &st) == 0) {
			if (st.text == NULL || strlen(st.code) >= sizeof st.code)
				abort();
		}
		if (pop3c_parse_uidl(line, &num, uidl, sizeof uidl) == 0 && (num == 0 || strlen(uidl) == 0))
			abort();
		if (pop3c_parse_list(line, &num, &lsize) == 0 && lsize < 0)
			abort();
		if (pop3c_apop_timestamp(line, ts, sizeof ts) == 0 && (ts[0] != '<' || strchr(ts, '@') == NULL))
			abort();
	}
	free(text);

	out1 = malloc(2 * size + 1);
	out2 = malloc(2 * size + 1);
	if (out1 != NULL && out2 != NULL) {
		n1 = decode_all((const char *)data, size, NULL, 0, out1, &done1);
		n2 = decode_all((const char *)data, size, data, size, out2, &done2);
		if (n1 != n2 || done1 != done2 || memcmp(out1, out2, n1) != 0)
			abort();
	}
	free(out1);
	free(out2);
	return 0;
}
