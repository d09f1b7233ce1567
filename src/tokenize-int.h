/*
 * tokenize-int.h: shared between the tokenize-*.c files only.
 */
#ifndef POPGATE_TOKENIZE_INT_H
#define POPGATE_TOKENIZE_INT_H

#include "tokenize.h"

struct tok_ctx {
	struct tokset *ts;
	struct tokenize_info *info;
	unsigned seen;          /* TOK_SEEN_* bits */
	unsigned received;
};

size_t tok_utf8_next(const unsigned char *s, size_t left, uint32_t *cp_r);
int tok_is_cjk(uint32_t cp);
void tok_host(struct tokset *ts, const char *prefix, const char *host, size_t len);
void tok_text_info(struct tokset *ts, struct tokenize_info *info, const char *prefix, const char *utf8,
    size_t len);
void tok_header(void *ctx, unsigned depth, const char *name, const char *value);
void tok_headers_done(struct tok_ctx *t);

#endif
