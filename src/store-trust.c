/*
 * store-trust: trust stores, per-account TLS settings and pins
 * (sql/002-trust.sql). See store.h.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "tls.h"

static char *
dup_col(sqlite3_stmt *stmt, int col)
{
	const unsigned char *s = sqlite3_column_text(stmt, col);

	return s != NULL ? strdup((const char *)s) : NULL;
}

void
store_trust_clear(struct store_trust *t)
{
	free(t->name);
	free(t->kind);
	free(t->pem);
	memset(t, 0, sizeof *t);
}

/* Runs a prepared statement that returns no rows. */
static int
exec_stmt(struct store *st, sqlite3_stmt *stmt, const char **error_r)
{
	int rc = sqlite3_step(stmt);

	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		*error_r = store_error(st);
		return -1;
	}
	return 0;
}

static int
prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, const char **error_r)
{
	if (sqlite3_prepare_v2(store_db(st), sql, -1, stmt, NULL) != SQLITE_OK) {
		*error_r = store_error(st);
		return -1;
	}
	return 0;
}

int
store_trust_add(struct store *st, const char *name, const char *pem, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (pem == NULL || *pem == '\0') {
		*error_r = store_set_error(st, "a custom trust store needs certificates");
		return -1;
	}
	if (prepare(st, "INSERT INTO trust_stores (name, kind, pem) VALUES (?, 'custom', ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, pem, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		*error_r = store_set_error(st, "a trust store named \"%s\" exists already", name);
		return -1;
	}
	if (rc != SQLITE_DONE) {
		*error_r = store_error(st);
		return -1;
	}
	return 0;
}

int
store_trust_set_pem(struct store *st, const char *name, const char *pem, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (prepare(st, "UPDATE trust_stores SET pem = ? WHERE name = ? AND kind = 'custom'", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, pem, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
	if (exec_stmt(st, stmt, error_r) == -1)
		return -1;
	return sqlite3_changes(store_db(st)) > 0;
}

static int
trust_row(sqlite3_stmt *stmt, struct store_trust *t)
{
	memset(t, 0, sizeof *t);
	t->id = sqlite3_column_int64(stmt, 0);
	t->name = dup_col(stmt, 1);
	t->kind = dup_col(stmt, 2);
	t->pem = dup_col(stmt, 3);
	if (t->name == NULL || t->kind == NULL || (sqlite3_column_type(stmt, 3) != SQLITE_NULL && t->pem == NULL)) {
		store_trust_clear(t);
		return -1;
	}
	return 0;
}

static int
trust_get_one(struct store *st, sqlite3_stmt *stmt, struct store_trust *t_r, const char **error_r)
{
	int rc = sqlite3_step(stmt), ret;

	if (rc == SQLITE_ROW)
		ret = trust_row(stmt, t_r) == 0 ? 1 : -1;
	else if (rc == SQLITE_DONE)
		ret = 0;
	else
		ret = -1;
	if (ret == -1)
		*error_r = rc == SQLITE_ROW ? store_set_error(st, "out of memory") : store_error(st);
	sqlite3_finalize(stmt);
	return ret;
}

#define TRUST_COLS "SELECT id, name, kind, pem FROM trust_stores "

int
store_trust_get(struct store *st, const char *name, struct store_trust *t_r, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (prepare(st, TRUST_COLS "WHERE name = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	return trust_get_one(st, stmt, t_r, error_r);
}

int
store_trust_get_id(struct store *st, int64_t id, struct store_trust *t_r, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (prepare(st, TRUST_COLS "WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	return trust_get_one(st, stmt, t_r, error_r);
}

int
store_trust_del(struct store *st, const char *name, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (prepare(st, "DELETE FROM trust_stores WHERE name = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		*error_r = store_set_error(st, "trust store \"%s\" is still used by an account", name);
		return -1;
	}
	if (rc != SQLITE_DONE) {
		*error_r = store_error(st);
		return -1;
	}
	return sqlite3_changes(store_db(st)) > 0;
}

int
store_trust_foreach(struct store *st, store_trust_cb *cb, void *ctx, const char **error_r)
{
	struct store_trust t;
	sqlite3_stmt *stmt;
	int rc, ret = 0;

	if (prepare(st, TRUST_COLS "ORDER BY id", &stmt, error_r) == -1)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (trust_row(stmt, &t) == -1) {
			*error_r = store_set_error(st, "out of memory");
			ret = -1;
			break;
		}
		ret = cb(&t, ctx);
		store_trust_clear(&t);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = store_error(st);
		ret = -1;
	}
	sqlite3_finalize(stmt);
	return ret;
}

int
store_account_tls_get(struct store *st, int64_t account_id, struct store_account_tls *tls_r,
    const char **error_r)
{
	sqlite3_stmt *stmt;
	const char *v;
	int rc;

	memset(tls_r, 0, sizeof *tls_r);
	if (prepare(st, "SELECT trust_store_id, tls_min, tls_max FROM account_tls WHERE account_id = ?",
	    &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		tls_r->trust_store_id = sqlite3_column_int64(stmt, 0);
		if ((v = (const char *)sqlite3_column_text(stmt, 1)) != NULL)
			tls_r->tls_min = tls_version_parse(v);
		if ((v = (const char *)sqlite3_column_text(stmt, 2)) != NULL)
			tls_r->tls_max = tls_version_parse(v);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = store_error(st);
		return -1;
	}
	return 0;
}

int
store_account_tls_set(struct store *st, int64_t account_id, const struct store_account_tls *tls,
    const char **error_r)
{
	sqlite3_stmt *stmt;

	if (tls->tls_min && tls->tls_max && tls->tls_min > tls->tls_max) {
		*error_r = store_set_error(st, "TLS minimum %s is above maximum %s",
		    tls_version_name(tls->tls_min), tls_version_name(tls->tls_max));
		return -1;
	}
	if (prepare(st, "INSERT OR REPLACE INTO account_tls (account_id, trust_store_id, tls_min, tls_max) "
	    "VALUES (?, ?, ?, ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	if (tls->trust_store_id > 0)
		sqlite3_bind_int64(stmt, 2, tls->trust_store_id);
	else
		sqlite3_bind_null(stmt, 2);
	if (tls->tls_min)
		sqlite3_bind_text(stmt, 3, tls_version_name(tls->tls_min), -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 3);
	if (tls->tls_max)
		sqlite3_bind_text(stmt, 4, tls_version_name(tls->tls_max), -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 4);
	return exec_stmt(st, stmt, error_r);
}

int
store_pin_add(struct store *st, int64_t account_id, const char *pin, const char *note,
    const char **error_r)
{
	sqlite3_stmt *stmt;

	if (strncmp(pin, "sha256/", 7) != 0 || strlen(pin) != 51) {
		*error_r = store_set_error(st, "not a normalised pin: \"%s\"", pin);
		return -1;
	}
	if (prepare(st, "INSERT OR IGNORE INTO pins (account_id, pin, note) VALUES (?, ?, ?)",
	    &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	sqlite3_bind_text(stmt, 2, pin, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, note != NULL ? note : "", -1, SQLITE_STATIC);
	return exec_stmt(st, stmt, error_r);
}

int
store_pin_del(struct store *st, int64_t account_id, const char *pin, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (prepare(st, "DELETE FROM pins WHERE account_id = ? AND pin = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	sqlite3_bind_text(stmt, 2, pin, -1, SQLITE_STATIC);
	if (exec_stmt(st, stmt, error_r) == -1)
		return -1;
	return sqlite3_changes(store_db(st)) > 0;
}

int
store_pin_list(struct store *st, int64_t account_id, char ***pins_r, size_t *n_r, const char **error_r)
{
	sqlite3_stmt *stmt;
	char **v = NULL, **nv;
	size_t n = 0;
	int rc;

	*pins_r = NULL;
	*n_r = 0;
	if (prepare(st, "SELECT pin FROM pins WHERE account_id = ? ORDER BY created, pin", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	if ((v = calloc(1, sizeof *v)) == NULL)
		goto oom;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((nv = reallocarray(v, n + 2, sizeof *v)) == NULL)
			goto oom;
		v = nv;
		if ((v[n] = dup_col(stmt, 0)) == NULL)
			goto oom;
		v[++n] = NULL;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		store_pins_free(&v);
		*error_r = store_error(st);
		return -1;
	}
	*pins_r = v;
	*n_r = n;
	return 0;
oom:
	sqlite3_finalize(stmt);
	store_pins_free(&v);
	*error_r = store_set_error(st, "out of memory");
	return -1;
}

void
store_pins_free(char ***pinsp)
{
	char **v = *pinsp;

	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
	*pinsp = NULL;
}
