/*
 * filter-quarantine.c: training stored messages, and release, confirm,
 * delete and expiry of quarantined spam (see filter.h).
 */
#include "filter.h"
#include "filter-int.h"
#include "bayes.h"
#include "tokenize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bodies larger than this are trained on their first part only. */
#define TRAIN_BODY_MAX (32 * 1024 * 1024)

static int
tokenize_stored(struct store *st, int64_t id, struct tokset *ts, const char **error_r)
{
	struct store_body *body;
	int64_t size;
	size_t len = 0;
	char *buf;
	ssize_t n;
	int rc;

	if (store_body_open(st, id, &body, error_r) == -1)
		return -1;
	size = store_body_size(body);
	if (size > TRAIN_BODY_MAX)
		size = TRAIN_BODY_MAX;
	if ((buf = malloc((size_t)size + 1)) == NULL) {
		store_body_close(&body);
		*error_r = "out of memory";
		return -1;
	}
	while (len < (size_t)size && (n = store_body_read(body, buf + len, (size_t)size - len)) > 0)
		len += (size_t)n;
	store_body_close(&body);
	rc = tokenize_mem(ts, NULL, buf, len, error_r);
	free(buf);
	return rc;
}

/* The earlier training of a message: 1 spam, 0 ham, -1 none, -2 error. */
static int
trained_as(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st;
	int cls = -1, rc;

	if (sqlite3_prepare_v2(db, "SELECT class FROM filter_training WHERE message_id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return -2;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cls = strcmp((const char *)sqlite3_column_text(st, 0), "spam") == 0;
	else if (rc != SQLITE_DONE)
		cls = -2;
	sqlite3_finalize(st);
	return cls;
}

static int
record(sqlite3 *db, int64_t id, int spam)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO filter_training (message_id, class, trained_at) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (message_id) DO UPDATE SET class = ?2, trained_at = ?3", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, spam ? "spam" : "ham", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
filter_train_message(struct store *st, int64_t id, int spam, const char **error_r)
{
	sqlite3 *db = store_db(st);
	struct tokset *ts = tokenize_set_new(0);
	struct bayes *b;
	int before;

	if (tokenize_stored(st, id, ts, error_r) == -1) {
		tokenize_set_free(&ts);
		return -1;
	}
	if (store_begin(st, error_r) == -1) {
		tokenize_set_free(&ts);
		return -1;
	}
	if ((before = trained_as(db, id)) == -2) {
		*error_r = store_error(st);
		goto fail;
	}
	if (before == spam) {
		store_rollback(st);
		tokenize_set_free(&ts);
		return 0;
	}
	if ((b = filter_bayes_lock(db, error_r)) == NULL)
		goto fail;
	if (before != -1)
		bayes_learn(b, ts, before, -1);
	bayes_learn(b, ts, spam, 1);
	if (bayes_flush(b, db, error_r) == -1 || record(db, id, spam) == -1) {
		bayes_discard(b);
		filter_bayes_unlock();
		*error_r = store_error(st);
		goto fail;
	}
	if (store_commit(st, error_r) == -1) {
		bayes_discard(b);
		filter_bayes_unlock();
		goto fail;
	}
	filter_bayes_unlock();
	tokenize_set_free(&ts);
	return 0;
fail:
	store_rollback(st);
	tokenize_set_free(&ts);
	return -1;
}

/* 1 if message id is quarantined (filled in m), 0 if not, -1 on error. */
static int
quarantined(struct store *st, int64_t id, struct store_message *m, const char **error_r)
{
	int r = store_message_get(st, id, m, error_r);

	if (r != 1)
		return r;
	if (m->state != MSG_SPAM) {
		store_message_clear(m);
		return 0;
	}
	return 1;
}

int
filter_quarantine_release(struct store *st, int64_t id, const char **error_r)
{
	struct store_message m;
	int r;

	char headers[80];

	if ((r = quarantined(st, id, &m, error_r)) != 1)
		return r;
	/* a released message must not reach the client flagged as spam again */
	snprintf(headers, sizeof(headers), "X-Popgate-Verdict: released; score=%.4f\r\n", m.score);
	r = store_message_set_verdict(st, id, MSG_RELEASED, m.verdict != NULL ? m.verdict : "spam", m.score,
	    m.reasons, headers, error_r);
	store_message_clear(&m);
	if (r == -1)
		return -1;
	return filter_train_message(st, id, 0, error_r) == -1 ? -1 : 1;
}

int
filter_quarantine_confirm(struct store *st, int64_t id, const char **error_r)
{
	struct store_message m;
	int r;

	if ((r = quarantined(st, id, &m, error_r)) != 1)
		return r;
	store_message_clear(&m);
	return filter_train_message(st, id, 1, error_r) == -1 ? -1 : 1;
}

static int
deletes_upstream(sqlite3 *db, int64_t account_id)
{
	sqlite3_stmt *st;
	int yes = 0;

	if (sqlite3_prepare_v2(db, "SELECT spam_delete_upstream FROM accounts WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, account_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		yes = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	return yes;
}

int
filter_quarantine_delete(struct store *st, int64_t id, const char **error_r)
{
	struct store_message m;
	int r, upstream;

	if ((r = quarantined(st, id, &m, error_r)) != 1)
		return r;
	upstream = deletes_upstream(store_db(st), m.account_id);
	store_message_clear(&m);
	/* the body is committed (it was classified from the store), so the
	 * upstream copy may go: the next sync sends DELE for state deleted */
	if (upstream)
		return store_message_set_state(st, id, MSG_DELETED, error_r) == -1 ? -1 : 1;
	return store_message_gone(st, id, error_r) == -1 ? -1 : 1;
}

int
filter_quarantine_expire(struct store *st, int64_t now, unsigned *count_r, const char **error_r)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *q;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*count_r = 0;
	if (sqlite3_prepare_v2(db, "SELECT m.id FROM messages m JOIN accounts a ON a.id = m.account_id "
	    "WHERE m.state = ?1 AND a.quarantine_days > 0 AND m.fetched_at < ?2 - a.quarantine_days * 86400",
	    -1, &q, NULL) != SQLITE_OK) {
		*error_r = store_error(st);
		return -1;
	}
	sqlite3_bind_text(q, 1, store_msg_state_name(MSG_SPAM), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, now);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n == cap) {
			int64_t *ni;

			cap = cap ? cap * 2 : 64;
			if ((ni = realloc(ids, cap * sizeof(*ids))) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			ids = ni;
		}
		ids[n++] = sqlite3_column_int64(q, 0);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		free(ids);
		*error_r = rc == SQLITE_NOMEM ? "out of memory" : store_error(st);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int r = filter_quarantine_delete(st, ids[i], error_r);

		if (r == -1) {
			free(ids);
			return -1;
		}
		*count_r += (unsigned)r;
	}
	free(ids);
	return 0;
}
