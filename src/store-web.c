/*
 * store-web: the JSON API's tables, api_tokens and audit_log (sql/006-web.sql),
 * and the dashboard's web_sessions (sql/007-sessions.sql).
 */
#include "store.h"
#include "store-int.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define HASH_HEX_LEN 64

void
store_api_token_clear(struct store_api_token *t)
{
	free(t->user);
	free(t->name);
	memset(t, 0, sizeof(*t));
}

int
store_api_token_add(struct store *st, int64_t user_id, const char *name, const char *hash_hex,
    int64_t *id_r, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (strlen(hash_hex) != HASH_HEX_LEN) {
		*error_r = store_set_error(st, "a token hash is %d hex digits", HASH_HEX_LEN);
		return -1;
	}
	if (store_prepare(st, "INSERT INTO api_tokens (user_id, name, hash) VALUES (?, ?, ?)", &stmt,
	    error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, hash_hex, -1, SQLITE_STATIC);
	if (store_run(st, stmt, NULL, error_r) == -1)
		return -1;
	*id_r = sqlite3_last_insert_rowid(store_db(st));
	return 0;
}

int
store_api_token_del(struct store *st, int64_t id, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st, "DELETE FROM api_tokens WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	if ((rc = store_run(st, stmt, NULL, error_r)) == -1)
		return -1;
	return rc > 0;
}

struct token_walk {
	store_api_token_cb *cb;
	void *ctx;
};

static int
token_row(sqlite3_stmt *stmt, void *arg)
{
	struct token_walk *w = arg;
	struct store_api_token t = {
		.id = sqlite3_column_int64(stmt, 0),
		.user_id = sqlite3_column_int64(stmt, 1),
		.user = (char *)sqlite3_column_text(stmt, 2),
		.name = (char *)sqlite3_column_text(stmt, 3),
		.created = sqlite3_column_int64(stmt, 4),
		.last_used = sqlite3_column_int64(stmt, 5),
	};

	return w->cb(&t, w->ctx);
}

int
store_api_token_foreach(struct store *st, const char *user, store_api_token_cb *cb, void *ctx,
    const char **error_r)
{
	struct token_walk w = { cb, ctx };
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT t.id, t.user_id, u.name, t.name, t.created, coalesce(t.last_used, 0) "
	    "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.id",
	    &stmt, error_r) == -1)
		return -1;
	if (user != NULL)
		sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	return store_each(st, stmt, token_row, &w, error_r);
}

struct token_match {
	const char *hash;
	int64_t token_id;
	int64_t user_id;
	int64_t last_used;
	int found;
};

/* Every row is compared in full: how long the walk takes says nothing about the token. */
static int
match_row(sqlite3_stmt *stmt, void *arg)
{
	struct token_match *m = arg;
	const unsigned char *h = sqlite3_column_text(stmt, 2);
	int same;

	if (h == NULL || sqlite3_column_bytes(stmt, 2) != HASH_HEX_LEN)
		return 0;
	same = CRYPTO_memcmp(h, m->hash, HASH_HEX_LEN) == 0;
	if (same && !m->found) {
		m->found = 1;
		m->token_id = sqlite3_column_int64(stmt, 0);
		m->user_id = sqlite3_column_int64(stmt, 1);
		m->last_used = sqlite3_column_int64(stmt, 3);
	}
	return 0;
}

int
store_api_token_find(struct store *st, const char *hash_hex, int64_t now, struct store_user *u_r,
    int64_t *token_id_r, const char **error_r)
{
	struct token_match m = { hash_hex, 0, 0, 0, 0 };
	sqlite3_stmt *stmt;
	int rc;

	memset(u_r, 0, sizeof(*u_r));
	if (strlen(hash_hex) != HASH_HEX_LEN)
		return 0;
	if (store_prepare(st, "SELECT id, user_id, hash, coalesce(last_used, 0) FROM api_tokens", &stmt,
	    error_r) == -1)
		return -1;
	if (store_each(st, stmt, match_row, &m, error_r) == -1)
		return -1;
	if (!m.found)
		return 0;
	if (store_prepare(st, "SELECT id, name, pwhash, admin FROM users WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, m.user_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_user_cols(stmt, u_r);
	} else if (rc != SQLITE_DONE)
		*error_r = store_error(st);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : -1;
	*token_id_r = m.token_id;
	/* A write per request would serialise readers behind the WAL lock. */
	if (now - m.last_used >= 60 && store_prepare(st, "UPDATE api_tokens SET last_used = ? WHERE id = ?",
	    &stmt, error_r) == 0) {
		sqlite3_bind_int64(stmt, 1, now);
		sqlite3_bind_int64(stmt, 2, m.token_id);
		(void)store_run(st, stmt, NULL, error_r);
	}
	return 1;
}

int
store_audit_add(struct store *st, const char *user, const char *action, const char *target,
    const char *result, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "INSERT INTO audit_log (user, action, target, result) VALUES (?, ?, ?, ?)",
	    &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, result, -1, SQLITE_STATIC);
	return store_run(st, stmt, NULL, error_r) == -1 ? -1 : 0;
}

int
store_session_add(struct store *st, int64_t user_id, const char *hash_hex, const char *csrf,
    int64_t now, int64_t expires, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "DELETE FROM web_sessions WHERE expires <= ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	if (store_run(st, stmt, NULL, error_r) == -1)
		return -1;
	if (store_prepare(st, "INSERT INTO web_sessions (hash, user_id, csrf, created, expires) "
	    "VALUES (?, ?, ?, ?, ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, hash_hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, user_id);
	sqlite3_bind_text(stmt, 3, csrf, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, now);
	sqlite3_bind_int64(stmt, 5, expires);
	return store_run(st, stmt, NULL, error_r) == -1 ? -1 : 0;
}

int
store_session_find(struct store *st, const char *hash_hex, int64_t now, struct store_user *u_r,
    char csrf[65], const char **error_r)
{
	sqlite3_stmt *stmt;
	const unsigned char *c;
	int rc;

	memset(u_r, 0, sizeof(*u_r));
	csrf[0] = '\0';
	if (strlen(hash_hex) != HASH_HEX_LEN)
		return 0;
	if (store_prepare(st, "SELECT u.id, u.name, u.pwhash, u.admin, s.csrf FROM web_sessions s "
	    "JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires > ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, hash_hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_user_cols(stmt, u_r);
		c = sqlite3_column_text(stmt, 4);
		if (c != NULL && strlen((const char *)c) < 65)
			strcpy(csrf, (const char *)c);
	} else if (rc != SQLITE_DONE)
		*error_r = store_error(st);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_session_del(struct store *st, const char *hash_hex, const char **error_r)
{
	sqlite3_stmt *stmt;
	int n;

	if (store_prepare(st, "DELETE FROM web_sessions WHERE hash = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, hash_hex, -1, SQLITE_STATIC);
	if ((n = store_run(st, stmt, NULL, error_r)) == -1)
		return -1;
	return n > 0 ? 1 : 0;
}
