/*
 * tokenize-set.c: the set of distinct tokens of one message, and the token
 * hash (see tokenize.h). Texts live in one growing arena; the index is an
 * open-addressing table of positions keyed by hash.
 */
#include "tokenize.h"
#include "log.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct tok {
	uint64_t hash;
	uint32_t off;
	uint32_t family;        /* TOKENIZE_WORD or TOKENIZE_MARK */
};

struct tokset {
	struct tok *v;
	size_t n, cap, max;
	uint32_t *idx;          /* slot -> position + 1, 0 empty */
	size_t idx_cap;         /* power of two */
	char *text;
	size_t text_len, text_cap;
};

uint64_t
tokenize_hash(const char *s, size_t len)
{
	/* FNV-1a, then a murmur3-style finaliser to spread the bits */
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL)
		fatal("out of memory");
	return q;
}

struct tokset *
tokenize_set_new(size_t max)
{
	struct tokset *ts = calloc(1, sizeof(*ts));

	if (ts == NULL)
		fatal("out of memory");
	ts->max = max != 0 ? max : 20000;
	ts->idx_cap = 1024;
	ts->idx = calloc(ts->idx_cap, sizeof(*ts->idx));
	ts->cap = 256;
	ts->v = xrealloc(NULL, ts->cap * sizeof(*ts->v));
	ts->text_cap = 8192;
	ts->text = xrealloc(NULL, ts->text_cap);
	if (ts->idx == NULL)
		fatal("out of memory");
	return ts;
}

void
tokenize_set_free(struct tokset **tsp)
{
	struct tokset *ts = *tsp;

	if (ts == NULL)
		return;
	free(ts->v);
	free(ts->idx);
	free(ts->text);
	free(ts);
	*tsp = NULL;
}

void
tokenize_set_clear(struct tokset *ts)
{
	memset(ts->idx, 0, ts->idx_cap * sizeof(*ts->idx));
	ts->n = 0;
	ts->text_len = 0;
}

size_t
tokenize_set_count(const struct tokset *ts)
{
	return ts->n;
}

uint64_t
tokenize_set_hash(const struct tokset *ts, size_t i)
{
	return ts->v[i].hash;
}

const char *
tokenize_set_text(const struct tokset *ts, size_t i)
{
	return ts->text + ts->v[i].off;
}

int
tokenize_set_family(const struct tokset *ts, size_t i)
{
	return (int)ts->v[i].family;
}

int
tokenize_set_full(const struct tokset *ts)
{
	return ts->n >= ts->max;
}

static void
grow_index(struct tokset *ts)
{
	size_t ncap = ts->idx_cap * 2;
	uint32_t *nidx = calloc(ncap, sizeof(*nidx));

	if (nidx == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < ts->n; i++) {
		size_t s = (size_t)ts->v[i].hash & (ncap - 1);

		while (nidx[s] != 0)
			s = (s + 1) & (ncap - 1);
		nidx[s] = (uint32_t)i + 1;
	}
	free(ts->idx);
	ts->idx = nidx;
	ts->idx_cap = ncap;
}

void
tokenize_set_add(struct tokset *ts, const char *prefix, const char *word, size_t len)
{
	size_t plen = strlen(prefix), s;
	char buf[256];
	uint64_t h;

	if (ts->n >= ts->max)
		return;
	if (plen + len > sizeof(buf) - 1)
		len = sizeof(buf) - 1 - plen;
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, word, len);
	len += plen;
	buf[len] = '\0';
	h = tokenize_hash(buf, len);
	for (s = (size_t)h & (ts->idx_cap - 1); ts->idx[s] != 0; s = (s + 1) & (ts->idx_cap - 1)) {
		if (ts->v[ts->idx[s] - 1].hash == h)
			return;
	}
	if (ts->n == ts->cap) {
		ts->cap *= 2;
		ts->v = xrealloc(ts->v, ts->cap * sizeof(*ts->v));
	}
	while (ts->text_len + len + 1 > ts->text_cap) {
		ts->text_cap *= 2;
		ts->text = xrealloc(ts->text, ts->text_cap);
	}
	memcpy(ts->text + ts->text_len, buf, len + 1);
	ts->v[ts->n].hash = h;
	ts->v[ts->n].off = (uint32_t)ts->text_len;
	ts->v[ts->n].family = memchr(buf, ':', len) != NULL ? TOKENIZE_MARK : TOKENIZE_WORD;
	ts->text_len += len + 1;
	ts->idx[s] = (uint32_t)ts->n + 1;
	ts->n++;
	if (ts->n * 2 > ts->idx_cap)
		grow_index(ts);
}
