#include "store.h"
#include "store-int.h"

#include <stdlib.h>
#include <string.h>

void
store_user_clear(struct store_user *u)
{
	free(u->name);
	free(u->pwhash);
	memset(u, 0, sizeof(*u));
}

int
store_user_add(struct store *st, const char *name, const char *pwhash, int admin, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st, "INSERT INTO users (name, pwhash, admin) VALUES (?, ?, ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, pwhash, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, admin != 0);
	if (store_run(st, stmt, &rc, error_r) == -1 && rc == SQLITE_CONSTRAINT) {
		*error_r = store_set_error(st, "user %s already exists", name);
		return -1;
	}
	if (rc != SQLITE_DONE)
		return -1;
	return 0;
}

void
store_user_cols(sqlite3_stmt *stmt, struct store_user *u)
{
	u->id = sqlite3_column_int64(stmt, 0);
	u->name = store_col_dup(stmt, 1);
	u->pwhash = store_col_dup(stmt, 2);
	u->admin = sqlite3_column_int(stmt, 3);
}

int
store_user_get(struct store *st, const char *name, struct store_user *u_r, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(u_r, 0, sizeof(*u_r));
	if (store_prepare(st, "SELECT id, name, pwhash, admin FROM users WHERE name = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_user_cols(stmt, u_r);
	else if (rc != SQLITE_DONE)
		*error_r = store_error(st);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_user_del(struct store *st, const char *name, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st, "DELETE FROM users WHERE name = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	if ((rc = store_run(st, stmt, NULL, error_r)) == -1)
		return -1;
	return rc > 0;
}

struct user_walk {
	store_user_cb *cb;
	void *ctx;
};

static int
user_row(sqlite3_stmt *stmt, void *arg)
{
	struct user_walk *w = arg;
	struct store_user u;
	int ret;

	store_user_cols(stmt, &u);
	ret = w->cb(&u, w->ctx);
	store_user_clear(&u);
	return ret;
}

int
store_user_foreach(struct store *st, store_user_cb *cb, void *ctx, const char **error_r)
{
	struct user_walk w = { cb, ctx };
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT id, name, pwhash, admin FROM users ORDER BY name", &stmt, error_r) == -1)
		return -1;
	return store_each(st, stmt, user_row, &w, error_r);
}
