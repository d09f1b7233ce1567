/* Fuzz target: POP3 command lines and the dot-stuffing encoder. */
#include "pop3-dot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[600], *argv[8], *out;
	struct pop3_dot d;
	size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1, o;

	memcpy(line, data, n);
	line[n] = '\0';
	(void)pop3_split_args(line, argv, 8);

	if ((out = malloc(2 * size + 8)) == NULL)
		return 0;
	pop3_dot_init(&d);
	o = pop3_dot_encode(&d, (const char *)data, size, out);
	o += pop3_dot_finish(&d, out + o);
	/* No line of the output may be a lone "." before the terminator. */
	if (o >= 3 && memcmp(out + o - 3, ".\r\n", 3) != 0)
		abort();
	for (size_t i = 0; i + 3 < o - 3; i++) {
		if ((i == 0 || out[i - 1] == '\n') && out[i] == '.' && out[i + 1] == '\r' && out[i + 2] == '\n')
			abort();
	}
	free(out);
	return 0;
}
