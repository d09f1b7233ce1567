/*
 * filter: turns one fetched message into a verdict.
 *
 * Today: the sender allow/block lists. The spam engine (mime, tokenize,
 * bayes, rules) plugs in behind filter_classify() without changing callers.
 * The filter reads the message from a file descriptor (the sync spool), so
 * a message of any size is never held whole in memory by the caller.
 */
#ifndef POPGATE_FILTER_H
#define POPGATE_FILTER_H

#include <stdint.h>
#include "store.h"

struct filter_input {
	int64_t account_id;
	const char *account;    /* "owner/name", for headers and logs */
	int fd;                 /* the raw message, readable from offset 0 */
	int64_t size;
	const char *from_addr;  /* address from the From header, or "" */
};

struct filter_verdict {
	enum msg_state state;   /* MSG_HAM (ham or unsure) or MSG_SPAM */
	const char *verdict;    /* "ham", "unsure" or "spam" (static) */
	double score;           /* spam probability in [0,1] */
	char *reasons;          /* JSON array, malloc'd */
	char *added_headers;    /* CRLF header lines prepended on RETR, malloc'd */
};

int filter_classify(struct store *st, const struct filter_input *in, struct filter_verdict *v_r,
    const char **error_r);
void filter_verdict_clear(struct filter_verdict *v);

/* Whether addr matches a list pattern ("*@example.com", "bob@*", exact; case-insensitive). */
int filter_pattern_match(const char *pattern, const char *addr);

#endif
