/*
 * store-int: the small helpers every store-*.c file shares: preparing a
 * statement, running one that returns no rows, and copying a column.
 * Only store files include it.
 */
#ifndef POPGATE_STORE_INT_H
#define POPGATE_STORE_INT_H

#include "store.h"

/* Prepares sql; on failure sets *error_r from the connection. */
int store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt_r, const char **error_r);
/*
 * Steps a statement that returns no rows, then finalizes it. Returns the
 * number of rows changed, or -1 with *error_r (the SQLite result code in
 * *rc_r when rc_r is not NULL, e.g. to tell SQLITE_CONSTRAINT apart).
 */
int store_run(struct store *st, sqlite3_stmt *stmt, int *rc_r, const char **error_r);
/*
 * Walks the rows of stmt, calling row(stmt, arg) for each, then finalizes
 * it. Returns the first non-zero value row gave (the walk stops there), 0
 * after the last row, or -1 with *error_r on an SQLite error.
 */
typedef int store_row_fn(sqlite3_stmt *stmt, void *arg);
int store_each(struct store *st, sqlite3_stmt *stmt, store_row_fn *row, void *arg, const char **error_r);
/* A malloc'd copy of a text column, or NULL for SQL NULL. */
char *store_col_dup(sqlite3_stmt *stmt, int col);
/* A user from the statement's first four columns: id, name, pwhash, admin. */
void store_user_cols(sqlite3_stmt *stmt, struct store_user *u);

#endif
