/*
 * fuzz-mime: the whole message path of the filter, MIME walk (GMime,
 * charsets, HTML) and tokenizer, on arbitrary bytes.
 */
#include "tokenize.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tokset *ts;
	struct tokenize_info info = { 0 };
	const char *error;

	if (ts == NULL)
		ts = tokenize_set_new(0);
	tokenize_set_clear(ts);
	(void)tokenize_mem(ts, &info, data, size, &error);
	for (size_t i = 0; i < tokenize_set_count(ts); i++)
		(void)tokenize_set_text(ts, i)[0];
	tokenize_info_clear(&info);
	return 0;
}
