/*
 * api-quarantine: the quarantine over HTTP -- list, show, release, confirm,
 * delete -- through the same filter_quarantine_* functions the CLI uses. A
 * user reaches only the messages of their own accounts (an admin every
 * account's); someone else's message id answers 404 like a missing one.
 */
#include "web-int.h"
#include "filter.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define HEADERS_MAX (64 * 1024)

static json_t *
message_json(const struct store_message *m, const char *account)
{
	json_t *o, *reasons = NULL;

	if (m->reasons != NULL)
		reasons = json_loads(m->reasons, 0, NULL);
	o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:f, s:o, s:o, s:I, s:I}",
	    "id", (json_int_t)m->id, "account", web_json_str(account), "uidl", web_json_str(m->uidl),
	    "from", web_json_str(m->from_addr), "subject", web_json_str(m->subject),
	    "date", web_json_str(m->date), "score", m->score,
	    "verdict", web_json_str(m->verdict), "reasons", reasons != NULL ? reasons : json_array(),
	    "fetched", (json_int_t)m->fetched_at, "size", (json_int_t)m->size);
	return o;
}

struct list_ctx {
	struct web_request *r;
	json_t *arr;
	long offset, limit, total;
	char account[300];
	const char *only;       /* OWNER/NAME, or NULL */
	const char *error;
	int failed;
};

static int
list_message(const struct store_message *m, void *arg)
{
	struct list_ctx *c = arg;

	if (c->total >= c->offset && c->total < c->offset + c->limit)
		json_array_append_new(c->arr, message_json(m, c->account));
	c->total++;
	return 0;
}

static int
list_account(const struct store_account *a, void *arg)
{
	struct list_ctx *c = arg;

	snprintf(c->account, sizeof(c->account), "%s/%s", a->owner, a->name);
	if (c->only != NULL && strcmp(c->only, c->account) != 0)
		return 0;
	if (store_message_foreach(c->r->st, a->id, MSG_SPAM, list_message, c, &c->error) == -1) {
		c->failed = 1;
		return -1;
	}
	return 0;
}

int
api_quarantine_list(struct web_request *r)
{
	struct list_ctx c;
	const char *v, *error;

	memset(&c, 0, sizeof(c));
	c.r = r;
	c.limit = LIST_DEFAULT;
	if ((v = web_query(r, "limit")) != NULL && (web_parse_count(v, LIST_MAX, &c.limit) == -1 || c.limit == 0))
		return web_error(r, 400, "bad_request", "limit is a number from 1 to %d", LIST_MAX);
	if ((v = web_query(r, "offset")) != NULL && web_parse_count(v, 100000000, &c.offset) == -1)
		return web_error(r, 400, "bad_request", "offset is a number from 0");
	c.only = web_query(r, "account");
	if (c.only != NULL && strchr(c.only, '/') == NULL)
		return web_error(r, 400, "bad_request", "account is OWNER/NAME");
	if ((c.arr = json_array()) == NULL)
		return web_error(r, 500, "internal", "out of memory");
	if (store_account_foreach(r->st, r->user.admin ? NULL : r->user.name, list_account, &c, &error) != 0) {
		json_decref(c.arr);
		return web_error(r, 500, "internal", "%s", c.failed ? c.error : error);
	}
	/* An account of someone else's is as unknown as one that does not exist. */
	if (c.only != NULL && c.total == 0) {
		struct store_account a;
		char owner[200];
		const char *slash = strchr(c.only, '/');
		int found;

		if ((size_t)(slash - c.only) >= sizeof(owner)) {
			json_decref(c.arr);
			return web_error(r, 404, "not_found", "no such account");
		}
		memcpy(owner, c.only, (size_t)(slash - c.only));
		owner[slash - c.only] = '\0';
		found = store_account_get(r->st, owner, slash + 1, &a, &error);
		if (found == 1 && (!r->user.admin && a.owner_id != r->user.id))
			found = 0;
		store_account_clear(&a);
		if (found != 1) {
			json_decref(c.arr);
			return found == 0 ? web_error(r, 404, "not_found", "no such account") :
			    web_error(r, 500, "internal", "%s", error);
		}
	}
	return web_reply(r, 200, json_pack("{s:o, s:I, s:I, s:I}", "messages", c.arr, "total", (json_int_t)c.total,
	    "offset", (json_int_t)c.offset, "limit", (json_int_t)c.limit));
}

/*
 * The message named by the path, if the caller may see it: 0 with m and
 * account filled, or the HTTP status (reply set).
 */
static int
load_message(struct web_request *r, int64_t *id_r, struct store_message *m, char *account, size_t size)
{
	struct store_account a;
	const char *error;
	int rc;

	memset(m, 0, sizeof(*m));
	if (web_parse_id(r->params.v[0], id_r) == -1)
		return web_error(r, 404, "not_found", "no such message");
	if ((rc = store_message_get(r->st, *id_r, m, &error)) != 1)
		return rc == 0 ? web_error(r, 404, "not_found", "no such message") :
		    web_error(r, 500, "internal", "%s", error);
	if ((rc = store_account_get_id(r->st, m->account_id, &a, &error)) != 1) {
		store_message_clear(m);
		return rc == 0 ? web_error(r, 404, "not_found", "no such message") :
		    web_error(r, 500, "internal", "%s", error);
	}
	if (!r->user.admin && a.owner_id != r->user.id) {
		store_account_clear(&a);
		store_message_clear(m);
		return web_error(r, 404, "not_found", "no such message");
	}
	snprintf(account, size, "%s/%s", a.owner, a.name);
	store_account_clear(&a);
	return 0;
}

/* The header block as received (bounded), or NULL when the body is gone. */
static json_t *
headers_json(struct store *st, int64_t id)
{
	struct store_body *body;
	const char *error;
	char *buf;
	size_t len = 0;
	ssize_t n;
	json_t *j;

	if (store_body_open(st, id, &body, &error) == -1)
		return json_null();
	if ((buf = malloc(HEADERS_MAX + 1)) == NULL) {
		store_body_close(&body);
		return json_null();
	}
	while (len < HEADERS_MAX && (n = store_body_read(body, buf + len, HEADERS_MAX - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\n\n") != NULL || strstr(buf, "\n\r\n") != NULL)
			break;
	}
	store_body_close(&body);
	buf[len] = '\0';
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))) {
			buf[i + 1] = '\0';
			break;
		}
	}
	/* A NUL inside would end the JSON string early anyway. */
	j = web_json_str(buf);
	free(buf);
	return j;
}

int
api_quarantine_get(struct web_request *r)
{
	struct store_message m;
	char account[300];
	int64_t id;
	json_t *o;
	int status;

	if ((status = load_message(r, &id, &m, account, sizeof(account))) != 0)
		return status;
	if (m.state != MSG_SPAM) {
		store_message_clear(&m);
		return web_error(r, 404, "not_found", "no such message in the quarantine");
	}
	o = message_json(&m, account);
	if (o != NULL)
		json_object_set_new(o, "headers", m.has_body ? headers_json(r->st, id) : json_null());
	store_message_clear(&m);
	return web_reply(r, 200, o);
}

enum act { ACT_RELEASE, ACT_CONFIRM, ACT_DELETE };

static int
act(struct web_request *r, enum act what)
{
	static const char *const actions[] = { "quarantine.release", "quarantine.confirm", "quarantine.delete" };
	static const char *const done[] = { "released", "confirmed", "deleted" };
	struct store_message m;
	char account[300];
	const char *error;
	int64_t id = 0;
	int status, rc;

	if ((status = load_message(r, &id, &m, account, sizeof(account))) != 0) {
		web_audit(r, actions[what], r->params.v[0], "not found");
		return status;
	}
	store_message_clear(&m);
	if (what == ACT_RELEASE)
		rc = filter_quarantine_release(r->st, id, &error);
	else if (what == ACT_CONFIRM)
		rc = filter_quarantine_confirm(r->st, id, &error);
	else
		rc = filter_quarantine_delete(r->st, id, &error);
	if (rc == 1) {
		web_audit(r, actions[what], r->params.v[0], "ok");
		log_info("web", "%s: message %lld (%s) %s", r->user.name, (long long)id, account, done[what]);
		return web_reply(r, 200, json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "result", done[what],
		    "account", web_json_str(account)));
	}
	if (rc == 0) {
		web_audit(r, actions[what], r->params.v[0], "not in the quarantine");
		return web_error(r, 404, "not_found", "no such message in the quarantine");
	}
	{
		char msg[300];

		snprintf(msg, sizeof(msg), "%s", error);
		web_audit(r, actions[what], r->params.v[0], msg);
		return web_error(r, 500, "internal", "%s", msg);
	}
}

int
api_quarantine_release(struct web_request *r)
{
	return act(r, ACT_RELEASE);
}

int
api_quarantine_confirm(struct web_request *r)
{
	return act(r, ACT_CONFIRM);
}

int
api_quarantine_delete(struct web_request *r)
{
	return act(r, ACT_DELETE);
}
