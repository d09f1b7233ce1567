#include "store.h"
#include "store-int.h"
#include "store-sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store {
	sqlite3 *db;
	char error[512];
};

sqlite3 *
store_db(struct store *st)
{
	return st->db;
}

const char *
store_set_error(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->error, sizeof(st->error), fmt, ap);
	va_end(ap);
	return st->error;
}

const char *
store_error(struct store *st)
{
	return store_set_error(st, "%s", sqlite3_errmsg(st->db));
}

static int
exec(struct store *st, const char *sql, const char **error_r)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		*error_r = store_set_error(st, "%s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
store_schema_version(struct store *st)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

int
store_begin(struct store *st, const char **error_r)
{
	return exec(st, "BEGIN IMMEDIATE", error_r);
}

int
store_commit(struct store *st, const char **error_r)
{
	return exec(st, "COMMIT", error_r);
}

void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Applies every embedded migration newer than user_version, all in one
 * transaction, so a database is never left half migrated.
 */
static int
migrate(struct store *st, const char **error_r)
{
	const struct store_migration *m;
	char pragma[64];
	int current, latest = 0;

	for (m = store_migrations; m->sql != NULL; m++)
		latest = m->version;
	/* The common case, every session and worker: nothing to do, no write lock. */
	if (store_schema_version(st) == latest)
		return 0;
	if (store_begin(st, error_r) == -1)
		return -1;
	current = store_schema_version(st);
	if (current > latest) {
		store_rollback(st);
		*error_r = store_set_error(st, "database schema version %d is newer than this popgate (%d)",
		    current, latest);
		return -1;
	}
	for (m = store_migrations; m->sql != NULL; m++) {
		if (m->version <= current)
			continue;
		if (exec(st, m->sql, error_r) == -1) {
			char msg[400];
			snprintf(msg, sizeof(msg), "%s", *error_r);
			store_rollback(st);
			*error_r = store_set_error(st, "migration %s: %s", m->name, msg);
			return -1;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
		if (exec(st, pragma, error_r) == -1) {
			store_rollback(st);
			return -1;
		}
	}
	return store_commit(st, error_r);
}

int
store_open(const char *path, struct store **st_r, const char **error_r)
{
	static char open_error[512];
	struct store *st;

	*st_r = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(open_error, sizeof(open_error), "%s",
		    st->db ? sqlite3_errmsg(st->db) : "cannot open database");
		*error_r = open_error;
		sqlite3_close(st->db);
		free(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 10000);
	if (exec(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
	    "PRAGMA foreign_keys = ON;", error_r) == -1 || migrate(st, error_r) == -1) {
		snprintf(open_error, sizeof(open_error), "%s", *error_r);
		*error_r = open_error;
		sqlite3_close(st->db);
		free(st);
		return -1;
	}
	*st_r = st;
	return 0;
}

void
store_close(struct store **stp)
{
	if (*stp == NULL)
		return;
	sqlite3_close((*stp)->db);
	free(*stp);
	*stp = NULL;
}

int
store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt_r, const char **error_r)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt_r, NULL) != SQLITE_OK) {
		*error_r = store_error(st);
		return -1;
	}
	return 0;
}

int
store_run(struct store *st, sqlite3_stmt *stmt, int *rc_r, const char **error_r)
{
	int rc = sqlite3_step(stmt);

	sqlite3_finalize(stmt);
	if (rc_r != NULL)
		*rc_r = rc;
	if (rc != SQLITE_DONE) {
		*error_r = store_error(st);
		return -1;
	}
	return sqlite3_changes(st->db);
}

int
store_each(struct store *st, sqlite3_stmt *stmt, store_row_fn *row, void *arg, const char **error_r)
{
	int rc, ret = 0;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((ret = row(stmt, arg)) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = store_error(st);
		ret = -1;
	}
	sqlite3_finalize(stmt);
	return ret;
}

char *
store_col_dup(sqlite3_stmt *stmt, int col)
{
	const unsigned char *s = sqlite3_column_text(stmt, col);

	return s == NULL ? NULL : strdup((const char *)s);
}
