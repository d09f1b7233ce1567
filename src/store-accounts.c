#include "store.h"
#include "store-int.h"

#include <stdlib.h>
#include <string.h>

#define ACCOUNT_COLS "a.id, a.owner_id, u.name, a.name, a.host, a.port, a.tls, a.login, a.secret, " \
	"a.ca_file, a.auth FROM accounts a JOIN users u ON u.id = a.owner_id"

void
store_account_clear(struct store_account *a)
{
	free(a->owner);
	free(a->name);
	free(a->host);
	free(a->login);
	free(a->secret);
	free(a->ca_file);
	free(a->auth);
	memset(a, 0, sizeof(*a));
}

static void
fill_account(sqlite3_stmt *stmt, struct store_account *a)
{
	const void *blob;

	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(stmt, 0);
	a->owner_id = sqlite3_column_int64(stmt, 1);
	a->owner = store_col_dup(stmt, 2);
	a->name = store_col_dup(stmt, 3);
	a->host = store_col_dup(stmt, 4);
	a->port = sqlite3_column_int(stmt, 5);
	a->tls = strcmp((const char *)sqlite3_column_text(stmt, 6), "starttls") == 0 ?
	    STORE_TLS_STARTTLS : STORE_TLS_IMPLICIT;
	a->login = store_col_dup(stmt, 7);
	blob = sqlite3_column_blob(stmt, 8);
	a->secret_len = (size_t)sqlite3_column_bytes(stmt, 8);
	if ((a->secret = malloc(a->secret_len + 1)) != NULL && blob != NULL)
		memcpy(a->secret, blob, a->secret_len);
	a->ca_file = store_col_dup(stmt, 9);
	a->auth = store_col_dup(stmt, 10);
}

int
store_account_add(struct store *st, struct store_account *a, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st,
	    "INSERT INTO accounts (owner_id, name, host, port, tls, login, secret, ca_file, auth) "
	    "VALUES ((SELECT id FROM users WHERE name = ?), ?, ?, ?, ?, ?, ?, ?, ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, a->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, a->host, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, a->port);
	sqlite3_bind_text(stmt, 5, a->tls == STORE_TLS_STARTTLS ? "starttls" : "implicit", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, a->login, -1, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 7, a->secret, (int)a->secret_len, SQLITE_STATIC);
	if (a->ca_file != NULL)
		sqlite3_bind_text(stmt, 8, a->ca_file, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 9, a->auth != NULL ? a->auth : "auto", -1, SQLITE_STATIC);
	if (store_run(st, stmt, &rc, error_r) == -1 && rc == SQLITE_CONSTRAINT) {
		struct store_user u;
		int found = store_user_get(st, a->owner, &u, error_r);
		store_user_clear(&u);
		if (found == 0)
			*error_r = store_set_error(st, "no user %s", a->owner);
		else
			*error_r = store_set_error(st, "user %s already has an account %s", a->owner, a->name);
		return -1;
	}
	if (rc != SQLITE_DONE)
		return -1;
	a->id = sqlite3_last_insert_rowid(store_db(st));
	return 0;
}

static int
get_one(struct store *st, sqlite3_stmt *stmt, struct store_account *a_r, const char **error_r)
{
	int rc = sqlite3_step(stmt);

	memset(a_r, 0, sizeof(*a_r));
	if (rc == SQLITE_ROW)
		fill_account(stmt, a_r);
	else if (rc != SQLITE_DONE)
		*error_r = store_error(st);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_account_get(struct store *st, const char *owner, const char *name, struct store_account *a_r,
    const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT " ACCOUNT_COLS " WHERE u.name = ? AND a.name = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	return get_one(st, stmt, a_r, error_r);
}

int
store_account_get_id(struct store *st, int64_t id, struct store_account *a_r, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT " ACCOUNT_COLS " WHERE a.id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	return get_one(st, stmt, a_r, error_r);
}

int
store_account_del(struct store *st, const char *owner, const char *name, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st,
	    "DELETE FROM accounts WHERE name = ? AND owner_id = (SELECT id FROM users WHERE name = ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, owner, -1, SQLITE_STATIC);
	if ((rc = store_run(st, stmt, NULL, error_r)) == -1)
		return -1;
	return rc > 0;
}

struct account_walk {
	store_account_cb *cb;
	void *ctx;
};

static int
account_row(sqlite3_stmt *stmt, void *arg)
{
	struct account_walk *w = arg;
	struct store_account a;
	int ret;

	fill_account(stmt, &a);
	ret = w->cb(&a, w->ctx);
	store_account_clear(&a);
	return ret;
}

int
store_account_foreach(struct store *st, const char *owner, store_account_cb *cb, void *ctx,
    const char **error_r)
{
	struct account_walk w = { cb, ctx };
	sqlite3_stmt *stmt;

	if (store_prepare(st, owner != NULL ?
	    "SELECT " ACCOUNT_COLS " WHERE u.name = ? ORDER BY u.name, a.name" :
	    "SELECT " ACCOUNT_COLS " ORDER BY u.name, a.name", &stmt, error_r) == -1)
		return -1;
	if (owner != NULL)
		sqlite3_bind_text(stmt, 1, owner, -1, SQLITE_STATIC);
	return store_each(st, stmt, account_row, &w, error_r);
}
