#include "filter.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
filter_verdict_clear(struct filter_verdict *v)
{
	free(v->reasons);
	free(v->added_headers);
	memset(v, 0, sizeof(*v));
}

int
filter_pattern_match(const char *pattern, const char *addr)
{
	return fnmatch(pattern, addr, FNM_CASEFOLD) == 0;
}

struct list_match {
	const char *addr;
	char kind[8];
	char pattern[330];
};

static int
match_entry(const char *kind, const char *pattern, void *ctx)
{
	struct list_match *lm = ctx;

	if (lm->addr[0] == '\0' || !filter_pattern_match(pattern, lm->addr))
		return 0;
	/* An allow entry wins over a block entry. */
	if (lm->kind[0] == '\0' || strcmp(kind, "allow") == 0) {
		snprintf(lm->kind, sizeof(lm->kind), "%s", kind);
		snprintf(lm->pattern, sizeof(lm->pattern), "%s", pattern);
	}
	return 0;
}

/* JSON string body: escapes quotes, backslashes and control bytes. */
static void
json_escape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in != '\0' && o + 7 < size; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

int
filter_classify(struct store *st, const struct filter_input *in, struct filter_verdict *v_r,
    const char **error_r)
{
	struct list_match lm;
	char esc[700];

	memset(v_r, 0, sizeof(*v_r));
	memset(&lm, 0, sizeof(lm));
	lm.addr = in->from_addr != NULL ? in->from_addr : "";
	if (store_list_foreach(st, match_entry, &lm, error_r) == -1)
		return -1;
	json_escape(lm.pattern, esc, sizeof(esc));
	if (strcmp(lm.kind, "block") == 0) {
		v_r->state = MSG_SPAM;
		v_r->verdict = "spam";
		v_r->score = 1.0;
		if (asprintf(&v_r->reasons, "[{\"rule\":\"block_list\",\"pattern\":\"%s\"}]", esc) == -1)
			v_r->reasons = NULL;
	} else {
		v_r->state = MSG_HAM;
		v_r->verdict = "ham";
		v_r->score = 0.0;
		if (lm.kind[0] != '\0') {
			if (asprintf(&v_r->reasons, "[{\"rule\":\"allow_list\",\"pattern\":\"%s\"}]", esc) == -1)
				v_r->reasons = NULL;
		} else
			v_r->reasons = strdup("[]");
	}
	if (asprintf(&v_r->added_headers, "X-Popgate-Verdict: %s; score=%.4f\r\n", v_r->verdict,
	    v_r->score) == -1)
		v_r->added_headers = NULL;
	if (v_r->reasons == NULL || v_r->added_headers == NULL) {
		filter_verdict_clear(v_r);
		*error_r = "out of memory";
		return -1;
	}
	return 0;
}
