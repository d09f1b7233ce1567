/*
 * api-filter: the sender allow/block lists and the filter settings. Both
 * are global (they apply to every account), so anyone may read them and
 * only admins change them, through store_list_* and verdict_setting_set
 * as the CLI does.
 */
#include "web-int.h"
#include "log.h"
#include "verdict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
list_row(const char *kind, const char *pattern, void *arg)
{
	json_t *arr = arg;

	return json_array_append_new(arr, json_pack("{s:s, s:o}", "kind", kind, "pattern", web_json_str(pattern)));
}

int
api_lists_get(struct web_request *r)
{
	json_t *arr = json_array();
	const char *error;

	if (arr == NULL)
		return web_error(r, 500, "internal", "out of memory");
	if (store_list_foreach(r->st, list_row, arr, &error) != 0) {
		json_decref(arr);
		return web_error(r, 500, "internal", "%s", error);
	}
	return web_reply(r, 200, json_pack("{s:o}", "entries", arr));
}

int
api_lists_add(struct web_request *r)
{
	const char *kind, *pattern, *error;
	char err[200], target[400];

	if (r->body == NULL) {
		web_audit(r, "list.add", "", "no body");
		return web_error(r, 400, "bad_request", "expected {\"kind\": \"allow\" or \"block\", \"pattern\": \"...\"}");
	}
	if (web_body_list_entry(r->body, &kind, &pattern, err, sizeof(err)) == -1) {
		web_audit(r, "list.add", "", err);
		return web_error(r, 400, "bad_request", "%s", err);
	}
	snprintf(target, sizeof(target), "%s %s", kind, pattern);
	if (store_list_add(r->st, kind, pattern, &error) == -1) {
		snprintf(err, sizeof(err), "%s", error);
		web_audit(r, "list.add", target, err);
		return web_error(r, 500, "internal", "%s", err);
	}
	web_audit(r, "list.add", target, "ok");
	log_info("web", "%s: list add %s", r->user.name, target);
	return web_reply(r, 201, json_pack("{s:s, s:o}", "kind", kind, "pattern", web_json_str(pattern)));
}

int
api_lists_del(struct web_request *r)
{
	const char *kind = r->params.v[0], *pattern = r->params.v[1], *error;
	char target[WEB_PARAM_LEN * 2 + 2], msg[300];
	int rc;

	snprintf(target, sizeof(target), "%s %s", kind, pattern);
	if (strcmp(kind, "allow") != 0 && strcmp(kind, "block") != 0) {
		web_audit(r, "list.del", target, "no such list");
		return web_error(r, 404, "not_found", "the lists are allow and block");
	}
	if ((rc = store_list_del(r->st, kind, pattern, &error)) <= 0) {
		snprintf(msg, sizeof(msg), "%s", rc == 0 ? "no such entry" : error);
		web_audit(r, "list.del", target, msg);
		return rc == 0 ? web_error(r, 404, "not_found", "no such entry") :
		    web_error(r, 500, "internal", "%s", msg);
	}
	web_audit(r, "list.del", target, "ok");
	log_info("web", "%s: list del %s", r->user.name, target);
	return web_reply(r, 200, json_pack("{s:s, s:o, s:b}", "kind", kind, "pattern", web_json_str(pattern),
	    "deleted", 1));
}


static json_t *
zones(char *const *z, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, web_json_str(z[i]));
	return arr;
}

/* What popgate filter show prints, as JSON. */
int
api_filter_get(struct web_request *r)
{
	sqlite3 *db = store_db(r->st);
	struct verdict_config c;
	struct bayes_db_counts bc;
	const char *error;
	json_t *o;

	if (verdict_config_load(db, &c, &error) == -1)
		return web_error(r, 500, "internal", "%s", error);
	bayes_db_counts(db, &bc);
	o = json_pack("{s:{s:f, s:f, s:f, s:f, s:f, s:i, s:f, s:f, s:i, s:i, s:o, s:o, s:f, s:f, s:i, s:i, s:o, s:o},"
	    " s:{s:I, s:I, s:I}}",
	    "settings",
	    "ham_cutoff", c.bayes.ham_cutoff, "spam_cutoff", c.bayes.spam_cutoff, "robs", c.bayes.robs,
	    "robx", c.bayes.robx, "min_dev", c.bayes.min_dev, "max_discriminators", (int)c.bayes.max_discriminators,
	    "word_exponent", c.bayes.exponent[TOKENIZE_WORD], "mark_exponent", c.bayes.exponent[TOKENIZE_MARK],
	    "min_training", (int)c.min_training,
	    "token_days", (int)c.token_days, "dnsbl_zones", zones(c.rules.dnsbl, c.rules.ndnsbl),
	    "uribl_zones", zones(c.rules.uribl, c.rules.nuribl), "dnsbl_weight", c.rules.dnsbl_weight,
	    "uribl_weight", c.rules.uribl_weight, "trusted_networks_extra", (int)c.rules.ntrusted,
	    "dns_timeout_ms", c.rules.timeout_ms,
	    "spamd", web_json_str(c.rules.spamd), "rspamd", web_json_str(c.rules.rspamd),
	    "trained",
	    "spam", (json_int_t)bc.nspam, "ham", (json_int_t)bc.nham, "tokens", (json_int_t)bc.tokens);
	verdict_config_clear(&c);
	return web_reply(r, 200, o);
}

int
api_filter_set(struct web_request *r)
{
	const char *key = r->params.v[0], *error;
	char value[1024], err[300], target[WEB_PARAM_LEN + 1100];
	int unset;

	if (r->body == NULL) {
		web_audit(r, "filter.set", key, "no body");
		return web_error(r, 400, "bad_request", "expected {\"value\": ...}");
	}
	if (web_body_setting(r->body, value, sizeof(value), &unset, err, sizeof(err)) == -1) {
		web_audit(r, "filter.set", key, err);
		return web_error(r, 400, "bad_request", "%s", err);
	}
	snprintf(target, sizeof(target), "%s = %s", key, unset ? "(default)" : value);
	if (verdict_setting_set(store_db(r->st), key, unset ? NULL : value, &error) == -1) {
		snprintf(err, sizeof(err), "%s", error);
		web_audit(r, "filter.set", target, err);
		/* Like popgate filter set: a refused value is the caller's mistake. */
		return web_error(r, 400, "bad_request", "%s", err);
	}
	web_audit(r, "filter.set", target, "ok");
	log_info("web", "%s: filter %s", r->user.name, target);
	return web_reply(r, 200, json_pack("{s:s, s:o}", "key", key, "value", unset ? json_null() : json_string(value)));
}
