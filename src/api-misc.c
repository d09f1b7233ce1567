/*
 * api-misc: health, the caller, and the caller's upstream accounts (never
 * their passwords).
 */
#include "web-int.h"

#include <string.h>

int
api_health(struct web_request *r)
{
	return web_reply(r, 200, json_pack("{s:s, s:s}", "status", "ok", "version", PACKAGE_VERSION));
}

int
api_me(struct web_request *r)
{
	json_t *o = json_pack("{s:I, s:o, s:b}", "id", (json_int_t)r->user.id, "name",
	    web_json_str(r->user.name), "admin", r->user.admin);

	/* A page reloaded with its session cookie learns its CSRF token here. */
	if (o != NULL && r->session[0] != '\0')
		json_object_set_new(o, "csrf", json_string(r->csrf));
	return web_reply(r, 200, o);
}

struct accounts_ctx {
	struct web_request *r;
	json_t *arr;
};

/* Policy and quarantine size of one account (the filter's columns, sql/003-filter.sql). */
static void
add_policy(struct store *st, int64_t id, json_t *o)
{
	sqlite3_stmt *q;

	if (sqlite3_prepare_v2(store_db(st), "SELECT spam_policy, coalesce(spam_subject_prefix, ''), "
	    "quarantine_days, spam_delete_upstream, (SELECT count(*) FROM messages m WHERE m.account_id = a.id "
	    "AND m.state = 'spam') FROM accounts a WHERE a.id = ?", -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		json_object_set_new(o, "spam_policy", json_pack("{s:o, s:o, s:i, s:b}",
		    "spam", web_json_str((const char *)sqlite3_column_text(q, 0)),
		    "subject_prefix", web_json_str((const char *)sqlite3_column_text(q, 1)),
		    "quarantine_days", sqlite3_column_int(q, 2),
		    "delete_upstream", sqlite3_column_int(q, 3)));
		json_object_set_new(o, "quarantined", json_integer(sqlite3_column_int64(q, 4)));
	}
	sqlite3_finalize(q);
}

static int
account_row(const struct store_account *a, void *arg)
{
	struct accounts_ctx *c = arg;
	char full[300];
	json_t *o;

	snprintf(full, sizeof(full), "%s/%s", a->owner, a->name);
	o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:i, s:s, s:o, s:o}",
	    "id", (json_int_t)a->id, "account", web_json_str(full), "owner", web_json_str(a->owner),
	    "name", web_json_str(a->name), "host", web_json_str(a->host), "port", a->port,
	    "tls", a->tls == STORE_TLS_IMPLICIT ? "implicit" : "starttls",
	    "login", web_json_str(a->login), "auth", web_json_str(a->auth));
	if (o == NULL)
		return -1;
	add_policy(c->r->st, a->id, o);
	json_array_append_new(c->arr, o);
	return 0;
}

int
api_accounts(struct web_request *r)
{
	struct accounts_ctx c = { r, json_array() };
	const char *error;

	if (c.arr == NULL)
		return web_error(r, 500, "internal", "out of memory");
	if (store_account_foreach(r->st, r->user.admin ? NULL : r->user.name, account_row, &c, &error) != 0) {
		json_decref(c.arr);
		return web_error(r, 500, "internal", "%s", error);
	}
	return web_reply(r, 200, json_pack("{s:o}", "accounts", c.arr));
}
