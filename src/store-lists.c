#include "store.h"
#include "store-int.h"

#include <string.h>

int
store_list_add(struct store *st, const char *kind, const char *pattern, const char **error_r)
{
	sqlite3_stmt *stmt;

	/* OR IGNORE would silently skip the CHECK constraint too. */
	if (strcmp(kind, "allow") != 0 && strcmp(kind, "block") != 0) {
		*error_r = store_set_error(st, "list must be allow or block, not \"%s\"", kind);
		return -1;
	}
	if (store_prepare(st, "INSERT OR IGNORE INTO lists (kind, pattern) VALUES (?, ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, pattern, -1, SQLITE_STATIC);
	return store_run(st, stmt, NULL, error_r) == -1 ? -1 : 0;
}

int
store_list_del(struct store *st, const char *kind, const char *pattern, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st, "DELETE FROM lists WHERE kind = ? AND pattern = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, pattern, -1, SQLITE_STATIC);
	if ((rc = store_run(st, stmt, NULL, error_r)) == -1)
		return -1;
	return rc > 0;
}

struct list_walk {
	store_list_cb *cb;
	void *ctx;
};

static int
list_row(sqlite3_stmt *stmt, void *arg)
{
	struct list_walk *w = arg;

	return w->cb((const char *)sqlite3_column_text(stmt, 0), (const char *)sqlite3_column_text(stmt, 1),
	    w->ctx);
}

int
store_list_foreach(struct store *st, store_list_cb *cb, void *ctx, const char **error_r)
{
	struct list_walk w = { cb, ctx };
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT kind, pattern FROM lists ORDER BY kind, pattern", &stmt, error_r) == -1)
		return -1;
	return store_each(st, stmt, list_row, &w, error_r);
}
