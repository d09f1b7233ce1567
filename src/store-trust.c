#include "store.h"
#include "store-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
store_trust_cert_clear(struct store_trust_cert *c)
{
	free(c->store);
	free(c->sha256);
	free(c->subject);
	free(c->pem);
	memset(c, 0, sizeof(*c));
}

int
store_trust_exists(struct store *st, const char *name, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st, "SELECT 1 FROM trust_stores WHERE name = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = store_error(st);
		return -1;
	}
	return rc == SQLITE_ROW;
}

int
store_trust_cert_add(struct store *st, const char *store, const char *sha256, const char *subject,
    const char *pem, const char **error_r)
{
	sqlite3_stmt *stmt;
	int changes;

	if (store_begin(st, error_r) == -1)
		return -1;
	if (store_prepare(st, "INSERT OR IGNORE INTO trust_stores (name) VALUES (?)", &stmt, error_r) == -1)
		goto fail;
	sqlite3_bind_text(stmt, 1, store, -1, SQLITE_STATIC);
	if (store_run(st, stmt, NULL, error_r) == -1)
		goto fail;
	if (store_prepare(st, "INSERT OR IGNORE INTO trust_certs (store_id, sha256, subject, pem) "
	    "VALUES ((SELECT id FROM trust_stores WHERE name = ?), ?, ?, ?)", &stmt, error_r) == -1)
		goto fail;
	sqlite3_bind_text(stmt, 1, store, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, pem, -1, SQLITE_STATIC);
	if (store_run(st, stmt, NULL, error_r) == -1)
		goto fail;
	changes = sqlite3_changes(store_db(st));
	if (store_commit(st, error_r) == -1)
		goto fail;
	return changes > 0;
fail:
	store_rollback(st);
	return -1;
}

int
store_trust_del(struct store *st, const char *store, const char *sha256, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sha256 != NULL) {
		if (store_prepare(st, "DELETE FROM trust_certs WHERE sha256 = ? COLLATE NOCASE AND "
		    "store_id = (SELECT id FROM trust_stores WHERE name = ?)", &stmt, error_r) == -1)
			return -1;
		sqlite3_bind_text(stmt, 1, sha256, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, store, -1, SQLITE_STATIC);
		if (store_run(st, stmt, NULL, error_r) == -1)
			return -1;
		return sqlite3_changes(store_db(st)) > 0;
	}
	if (store_prepare(st, "SELECT count(*) FROM accounts WHERE trust = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, store, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
	sqlite3_finalize(stmt);
	if (rc == -1) {
		*error_r = store_error(st);
		return -1;
	}
	if (rc > 0) {
		*error_r = store_set_error(st, "trust store %s is used by %d account%s: point them "
		    "elsewhere first (account set --trust)", store, rc, rc == 1 ? "" : "s");
		return -1;
	}
	if (store_prepare(st, "DELETE FROM trust_stores WHERE name = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, store, -1, SQLITE_STATIC);
	if (store_run(st, stmt, NULL, error_r) == -1)
		return -1;
	return sqlite3_changes(store_db(st)) > 0;
}

struct trust_store_walk {
	store_trust_store_cb *cb;
	void *ctx;
};

static int
trust_store_row(sqlite3_stmt *stmt, void *arg)
{
	struct trust_store_walk *w = arg;

	return w->cb((const char *)sqlite3_column_text(stmt, 0), sqlite3_column_int(stmt, 1),
	    sqlite3_column_int(stmt, 2), w->ctx);
}

int
store_trust_store_foreach(struct store *st, store_trust_store_cb *cb, void *ctx, const char **error_r)
{
	struct trust_store_walk w = { cb, ctx };
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT s.name, (SELECT count(*) FROM trust_certs c WHERE c.store_id = s.id), "
	    "(SELECT count(*) FROM accounts a WHERE a.trust = s.name) FROM trust_stores s ORDER BY s.name",
	    &stmt, error_r) == -1)
		return -1;
	return store_each(st, stmt, trust_store_row, &w, error_r);
}

struct trust_cert_walk {
	store_trust_cert_cb *cb;
	void *ctx;
};

static int
trust_cert_row(sqlite3_stmt *stmt, void *arg)
{
	struct trust_cert_walk *w = arg;
	struct store_trust_cert c;
	int ret;

	c.id = sqlite3_column_int64(stmt, 0);
	c.store = store_col_dup(stmt, 1);
	c.sha256 = store_col_dup(stmt, 2);
	c.subject = store_col_dup(stmt, 3);
	c.pem = store_col_dup(stmt, 4);
	c.added = sqlite3_column_int64(stmt, 5);
	ret = (c.store && c.sha256 && c.subject && c.pem) ? w->cb(&c, w->ctx) : -1;
	store_trust_cert_clear(&c);
	return ret;
}

int
store_trust_cert_foreach(struct store *st, const char *store, store_trust_cert_cb *cb, void *ctx,
    const char **error_r)
{
	struct trust_cert_walk w = { cb, ctx };
	sqlite3_stmt *stmt;

	if (store_prepare(st, "SELECT c.id, s.name, c.sha256, c.subject, c.pem, c.added FROM trust_certs c "
	    "JOIN trust_stores s ON s.id = c.store_id WHERE s.name = ? ORDER BY c.id", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, store, -1, SQLITE_STATIC);
	return store_each(st, stmt, trust_cert_row, &w, error_r);
}

struct pem_buf {
	char *buf;
	size_t len;
};

static int
append_pem(const struct store_trust_cert *c, void *ctx)
{
	struct pem_buf *b = ctx;
	size_t n = strlen(c->pem);
	char *p = realloc(b->buf, b->len + n + 2);

	if (p == NULL)
		return -1;
	b->buf = p;
	memcpy(b->buf + b->len, c->pem, n);
	b->len += n;
	b->buf[b->len++] = '\n';
	b->buf[b->len] = '\0';
	return 0;
}

int
store_trust_pem(struct store *st, const char *store, char **pem_r, size_t *len_r, const char **error_r)
{
	struct pem_buf b = { NULL, 0 };
	int r;

	*pem_r = NULL;
	*len_r = 0;
	if ((r = store_trust_exists(st, store, error_r)) != 1)
		return r;
	if ((b.buf = strdup("")) == NULL ||
	    (r = store_trust_cert_foreach(st, store, append_pem, &b, error_r)) != 0) {
		if (r > 0 || b.buf == NULL)
			*error_r = store_set_error(st, "out of memory");
		free(b.buf);
		return -1;
	}
	*pem_r = b.buf;
	*len_r = b.len;
	return 1;
}

void
store_account_trust_clear(struct store_account_trust *t)
{
	free(t->trust);
	free(t->pins);
	free(t->pending_pin);
	memset(t, 0, sizeof(*t));
}

int
store_account_trust_get(struct store *st, int64_t account_id, struct store_account_trust *t_r,
    const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(t_r, 0, sizeof(*t_r));
	if (store_prepare(st, "SELECT trust, pins, tofu, pending_pin, min_tls, max_tls, insecure FROM accounts "
	    "WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		t_r->trust = store_col_dup(stmt, 0);
		t_r->pins = store_col_dup(stmt, 1);
		t_r->tofu = sqlite3_column_int(stmt, 2);
		t_r->pending_pin = store_col_dup(stmt, 3);
		snprintf(t_r->min_tls, sizeof(t_r->min_tls), "%s", (const char *)sqlite3_column_text(stmt, 4));
		snprintf(t_r->max_tls, sizeof(t_r->max_tls), "%s", (const char *)sqlite3_column_text(stmt, 5));
		t_r->insecure = sqlite3_column_int(stmt, 6);
	} else if (rc != SQLITE_DONE)
		*error_r = store_error(st);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW && (t_r->trust == NULL || t_r->pins == NULL || t_r->pending_pin == NULL)) {
		store_account_trust_clear(t_r);
		*error_r = store_set_error(st, "out of memory");
		return -1;
	}
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_account_trust_set(struct store *st, int64_t account_id, const struct store_account_trust *t,
    int clear_ca_file, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "UPDATE accounts SET trust = ?, pins = ?, tofu = ?, pending_pin = ?, min_tls = ?, "
	    "max_tls = ?, insecure = ?, ca_file = CASE WHEN ? THEN NULL ELSE ca_file END WHERE id = ?",
	    &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, t->trust, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, t->pins ? t->pins : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, t->tofu != 0);
	sqlite3_bind_text(stmt, 4, t->pending_pin ? t->pending_pin : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, t->min_tls, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, t->max_tls, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 7, t->insecure != 0);
	sqlite3_bind_int(stmt, 8, clear_ca_file != 0);
	sqlite3_bind_int64(stmt, 9, account_id);
	if (store_run(st, stmt, NULL, error_r) == -1)
		return -1;
	if (sqlite3_changes(store_db(st)) == 0) {
		*error_r = store_set_error(st, "no such account");
		return -1;
	}
	return 0;
}

int
store_account_trust_record_pin(struct store *st, int64_t account_id, const char *pin, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "UPDATE accounts SET pins = ?, pending_pin = '' WHERE id = ? AND pins = ''",
	    &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, pin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, account_id);
	if (store_run(st, stmt, NULL, error_r) == -1)
		return -1;
	return sqlite3_changes(store_db(st)) > 0;
}

int
store_account_trust_set_pending(struct store *st, int64_t account_id, const char *pin, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "UPDATE accounts SET pending_pin = ? WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, pin, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, account_id);
	return store_run(st, stmt, NULL, error_r) == -1 ? -1 : 0;
}
