/*
 * tokenize-int.h: shared between the tokenize-*.c files only.
 */
#ifndef POPGATE_TOKENIZE_INT_H
#define POPGATE_TOKENIZE_INT_H

#include "tokenize.h"

struct tokenize_ctx {
	struct tokset *ts;
	struct tokenize_info *info;
	unsigned seen;          /* TOK_SEEN_* bits */
	unsigned received;
	char prev[41];          /* the previous header's name */
};

size_t tokenize_utf8_next(const unsigned char *s, size_t left, uint32_t *cp_r);
int tokenize_is_cjk(uint32_t cp);
void tokenize_host(struct tokset *ts, const char *prefix, const char *host, size_t len);
void tokenize_text_info(struct tokset *ts, struct tokenize_info *info, const char *prefix, const char *utf8,
    size_t len);
void tokenize_header(void *ctx, unsigned depth, const char *name, const char *value);
void tokenize_headers_done(struct tokenize_ctx *t);

#endif
