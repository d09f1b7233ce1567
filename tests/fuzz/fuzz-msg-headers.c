/* Fuzz target: the header block parser (From, Subject, Date; RFC 2047). */
#include "msg-headers.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct msg_headers h;

	if (!ready) {
		msg_headers_init();
		ready = 1;
	}
	if (msg_headers_parse((const char *)data, size, &h) == 0)
		msg_headers_clear(&h);
	return 0;
}
