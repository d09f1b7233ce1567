/*
 * verdict.c: settings, the decision, reasons and headers (see verdict.h).
 */
#include "verdict.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_DOUBLE, K_UINT, K_ZONES_DNSBL, K_ZONES_URIBL, K_NETS, K_INT, K_SPAMD, K_RSPAMD };

struct setting {
	const char *key;
	enum kind kind;
	size_t off;
	double min, max;
	const char *help;
};

#define B(f) offsetof(struct verdict_config, bayes.f)
#define R(f) offsetof(struct verdict_config, rules.f)

static const struct setting settings[] = {
	{ "ham_cutoff", K_DOUBLE, B(ham_cutoff), 0, 1, "scores below are ham" },
	{ "spam_cutoff", K_DOUBLE, B(spam_cutoff), 0, 1, "scores from here are spam" },
	{ "robs", K_DOUBLE, B(robs), 0.0001, 100, "strength of the unknown-token prior" },
	{ "robx", K_DOUBLE, B(robx), 0.0001, 0.9999, "probability of an unknown token" },
	{ "min_dev", K_DOUBLE, B(min_dev), 0, 0.49, "tokens nearer 0.5 are ignored" },
	{ "max_discriminators", K_UINT, B(max_discriminators), 0, 100000,
	    "tokens used per message (0: all beyond min_dev)" },
	{ "word_exponent", K_DOUBLE, B(exponent[TOKENIZE_WORD]), 0, 1,
	    "N plain words weigh as N^this independent ones (1: plain Fisher)" },
	{ "mark_exponent", K_DOUBLE, B(exponent[TOKENIZE_MARK]), 0, 1,
	    "N header, URL and other marks weigh as N^this independent ones" },
	{ "dnsbl_zones", K_ZONES_DNSBL, 0, 0, 0, "DNSBL zones, comma-separated (empty: off)" },
	{ "uribl_zones", K_ZONES_URIBL, 0, 0, 0, "URIBL zones, comma-separated (empty: off)" },
	{ "dnsbl_weight", K_DOUBLE, R(dnsbl_weight), -1, 1, "added to the score per DNSBL hit" },
	{ "uribl_weight", K_DOUBLE, R(uribl_weight), -1, 1, "added to the score per URIBL hit" },
	{ "trusted_networks", K_NETS, 0, 0, 0, "internal relays besides private ranges" },
	{ "dns_timeout_ms", K_INT, R(timeout_ms), 1, 60000, "deadline of the rule lookups" },
	{ "spamd", K_SPAMD, 0, 0, 0, "spamd host:port (empty: off)" },
	{ "spamd_weight", K_DOUBLE, R(spamd_weight), -1, 1, "added to the score when spamd says spam" },
	{ "rspamd_url", K_RSPAMD, 0, 0, 0, "rspamd /checkv2 URL (empty: off)" },
	{ "rspamd_weight", K_DOUBLE, R(rspamd_weight), -1, 1, "added to the score when rspamd says spam" },
	{ "min_training", K_UINT, offsetof(struct verdict_config, min_training), 0, 1000000,
	    "spam and ham messages Bayes needs before it is asked" },
	{ "token_days", K_UINT, offsetof(struct verdict_config, token_days), 0, 100000,
	    "days a token of one trained message is kept after its training (0: forever)" },
	{ NULL, 0, 0, 0, 0, NULL }
};

static void
defaults(struct verdict_config *c)
{
	memset(c, 0, sizeof(*c));
	c->bayes = bayes_default_params;
	c->rules.dnsbl_weight = 0.3;
	c->rules.uribl_weight = 0.3;
	c->rules.timeout_ms = 2000;
	c->rules.spamd_weight = 0.5;
	c->rules.rspamd_weight = 0.5;
	c->min_training = 10;
	c->token_days = 365;
}

static int
apply(struct verdict_config *c, const char *key, const char *value, const char **error_r)
{
	static char err[160];
	const struct setting *s;

	for (s = settings; s->key != NULL; s++) {
		if (strcmp(s->key, key) == 0)
			break;
	}
	if (s->key == NULL) {
		snprintf(err, sizeof(err), "unknown filter setting \"%.60s\"", key);
		*error_r = err;
		return -1;
	}
	switch (s->kind) {
	case K_DOUBLE:
	case K_UINT:
	case K_INT: {
		char *end;
		double d = strtod(value, &end);

		if (end == value || *end != '\0' || !(d >= s->min && d <= s->max) ||
		    (s->kind != K_DOUBLE && d != floor(d))) {
			snprintf(err, sizeof(err), "%s: expected a %s from %g to %g", key,
			    s->kind == K_DOUBLE ? "number" : "whole number", s->min, s->max);
			*error_r = err;
			return -1;
		}
		if (s->kind == K_DOUBLE)
			*(double *)((char *)c + s->off) = d;
		else if (s->kind == K_UINT)
			*(unsigned *)((char *)c + s->off) = (unsigned)d;
		else
			*(int *)((char *)c + s->off) = (int)d;
		return 0;
	}
	case K_ZONES_DNSBL:
		return rules_parse_zones(c->rules.dnsbl, &c->rules.ndnsbl, value, error_r);
	case K_ZONES_URIBL:
		return rules_parse_zones(c->rules.uribl, &c->rules.nuribl, value, error_r);
	case K_NETS:
		return rules_parse_networks(&c->rules, value, error_r);
	case K_SPAMD:
	case K_RSPAMD: {
		char **slot = s->kind == K_SPAMD ? &c->rules.spamd : &c->rules.rspamd;

		free(*slot);
		*slot = NULL;
		if (value[0] == '\0')
			return 0;
		if (strlen(value) > 512 || (s->kind == K_SPAMD ? strchr(value, ':') == NULL :
		    strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)) {
			snprintf(err, sizeof(err), "%s: expected %s", key, s->kind == K_SPAMD ? "host:port" :
			    "an http:// or https:// URL");
			*error_r = err;
			return -1;
		}
		if ((*slot = strdup(value)) == NULL) {
			*error_r = "out of memory";
			return -1;
		}
		return 0;
	}
	}
	return 0;
}

int
verdict_config_load(sqlite3 *db, struct verdict_config *c, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	defaults(c);
	if (sqlite3_prepare_v2(db, "SELECT key, value FROM filter_settings ORDER BY key", -1, &st, NULL) !=
	    SQLITE_OK) {
		*error_r = sqlite3_errmsg(db);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (apply(c, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
		    error_r) == -1) {
			sqlite3_finalize(st);
			verdict_config_clear(c);
			return -1;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		*error_r = sqlite3_errmsg(db);
		verdict_config_clear(c);
		return -1;
	}
	if (c->bayes.ham_cutoff > c->bayes.spam_cutoff) {
		*error_r = "ham_cutoff is above spam_cutoff";
		verdict_config_clear(c);
		return -1;
	}
	return 0;
}

void
verdict_config_clear(struct verdict_config *c)
{
	rules_config_clear(&c->rules);
}

int
verdict_setting_set(sqlite3 *db, const char *key, const char *value, const char **error_r)
{
	struct verdict_config c;
	sqlite3_stmt *st;
	int rc;

	if (value != NULL) {
		defaults(&c);
		rc = apply(&c, key, value, error_r);
		verdict_config_clear(&c);
		if (rc == -1)
			return -1;
	}
	if (sqlite3_prepare_v2(db, value != NULL ?
	    "INSERT INTO filter_settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2" :
	    "DELETE FROM filter_settings WHERE key = ?1", -1, &st, NULL) != SQLITE_OK) {
		*error_r = sqlite3_errmsg(db);
		return -1;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (value != NULL)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		*error_r = sqlite3_errmsg(db);
		return -1;
	}
	return 0;
}

const char *
verdict_class_name(enum verdict_class cls)
{
	switch (cls) {
	case VERDICT_HAM: return "ham";
	case VERDICT_UNSURE: return "unsure";
	case VERDICT_SPAM: return "spam";
	}
	return "unsure";
}

/* Token text is UTF-8 from tokenize, but may have been cut mid-sequence. */
static json_t *
safe_string(const char *s)
{
	json_t *j = json_string(s);

	if (j == NULL) {
		char buf[256];
		size_t n = 0;

		for (; s[n] != '\0' && n < sizeof(buf) - 1; n++)
			buf[n] = (unsigned char)s[n] < 0x80 ? s[n] : '?';
		buf[n] = '\0';
		j = json_string(buf);
	}
	return j;
}

enum verdict_class
verdict_classify(const struct verdict_config *c, const struct bayes_result *br, const struct rules_hits *hits,
    double *score_r)
{
	double score = br != NULL ? br->score : 0.0;

	for (size_t i = 0; hits != NULL && i < hits->count; i++)
		score += hits->hit[i].weight;
	if (hits != NULL && hits->allow)
		score = 0.0;
	else if (hits != NULL && hits->block)
		score = 1.0;
	if (score < 0.0)
		score = 0.0;
	if (score > 1.0)
		score = 1.0;
	*score_r = score;
	return score >= c->bayes.spam_cutoff ? VERDICT_SPAM : score < c->bayes.ham_cutoff ? VERDICT_HAM :
	    VERDICT_UNSURE;
}

int
verdict_decide(const struct verdict_config *c, const struct bayes_result *br, const struct rules_hits *hits,
    struct verdict *v)
{
	json_t *arr = json_array();

	memset(v, 0, sizeof(*v));
	if (arr == NULL)
		return -1;
	if (br == NULL)
		json_array_append_new(arr, json_pack("{s:s}", "bayes", "untrained"));
	for (size_t i = 0; hits != NULL && i < hits->count; i++)
		json_array_append_new(arr, json_pack("{s:s, s:o, s:f}", "rule", hits->hit[i].rule, "detail",
		    safe_string(hits->hit[i].detail), "weight", hits->hit[i].weight));
	if (br != NULL) {
		for (unsigned i = 0; i < br->nwhy; i++)
			json_array_append_new(arr, json_pack("{s:o, s:f, s:I, s:I}", "token",
			    safe_string(br->why[i].token), "prob", br->why[i].prob, "spam", (json_int_t)br->why[i].spam,
			    "ham", (json_int_t)br->why[i].ham));
	}
	v->cls = verdict_classify(c, br, hits, &v->score);
	v->reasons = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return v->reasons != NULL ? 0 : -1;
}

void
verdict_clear(struct verdict *v)
{
	free(v->reasons);
	v->reasons = NULL;
}

int
verdict_bayes_ready(const struct verdict_config *c, uint64_t nspam, uint64_t nham)
{
	return nspam >= c->min_training && nham >= c->min_training && nspam > 0 && nham > 0;
}

char *
verdict_headers(const struct verdict *v, const struct verdict_config *c)
{
	char *h = NULL;
	/* SpamAssassin's score is in points with a required score; ours is the
	 * probability scaled to 0..10 with the spam cut-off as "required". */
	double pts = v->score * 10.0, req = c->bayes.spam_cutoff * 10.0;

	if (v->cls == VERDICT_HAM) {
		if (asprintf(&h, "X-Popgate-Verdict: ham; score=%.4f\r\n", v->score) == -1)
			return NULL;
		return h;
	}
	if (asprintf(&h,
	    "X-Popgate-Verdict: %s; score=%.4f\r\n"
	    "X-Spam-Flag: %s\r\n"
	    "X-Spam-Status: %s, score=%.1f required=%.1f tests=%s\r\n"
	    "X-Spam-Score: %.1f\r\n",
	    verdict_class_name(v->cls), v->score,
	    v->cls == VERDICT_SPAM ? "YES" : "NO",
	    v->cls == VERDICT_SPAM ? "Yes" : "No", pts, req,
	    v->cls == VERDICT_UNSURE ? "POPGATE_UNSURE" : v->cls == VERDICT_SPAM ? "POPGATE_SPAM" : "POPGATE_HAM",
	    pts) == -1)
		return NULL;
	return h;
}
