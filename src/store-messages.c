#include "store.h"
#include "store-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_CHUNK 65536
#define MSG_COLS "id, account_id, uidl, size, state, score, verdict, reasons, added_headers, " \
	"from_addr, subject, date, fetched_at, (SELECT count(*) FROM bodies b WHERE b.message_id = m.id), " \
	"subject_prefix"

static const char *const state_names[] = {
	[MSG_PENDING] = "pending",
	[MSG_HAM] = "ham",
	[MSG_SPAM] = "spam",
	[MSG_RELEASED] = "released",
	[MSG_DELETED] = "deleted",
	[MSG_GONE] = "gone",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == MSG_STATE_COUNT, "state names");

const char *
store_msg_state_name(enum msg_state s)
{
	return (unsigned)s < MSG_STATE_COUNT ? state_names[s] : "?";
}

int
store_msg_state_parse(const char *name, enum msg_state *s_r)
{
	for (int i = 0; i < MSG_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*s_r = (enum msg_state)i;
			return 0;
		}
	}
	return -1;
}

void
store_message_clear(struct store_message *m)
{
	free(m->uidl);
	free(m->verdict);
	free(m->reasons);
	free(m->added_headers);
	free(m->subject_prefix);
	free(m->from_addr);
	free(m->subject);
	free(m->date);
	memset(m, 0, sizeof(*m));
}

static void
fill_message(sqlite3_stmt *stmt, struct store_message *m)
{
	enum msg_state s = MSG_PENDING;

	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(stmt, 0);
	m->account_id = sqlite3_column_int64(stmt, 1);
	m->uidl = store_col_dup(stmt, 2);
	m->size = sqlite3_column_int64(stmt, 3);
	store_msg_state_parse((const char *)sqlite3_column_text(stmt, 4), &s);
	m->state = s;
	m->score = sqlite3_column_double(stmt, 5);
	m->verdict = store_col_dup(stmt, 6);
	m->reasons = store_col_dup(stmt, 7);
	m->added_headers = store_col_dup(stmt, 8);
	m->from_addr = store_col_dup(stmt, 9);
	m->subject = store_col_dup(stmt, 10);
	m->date = store_col_dup(stmt, 11);
	m->fetched_at = sqlite3_column_int64(stmt, 12);
	m->has_body = sqlite3_column_int(stmt, 13) > 0;
	m->subject_prefix = store_col_dup(stmt, 14);
}

int
store_message_known(struct store *st, int64_t account_id, const char *uidl, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(st, "SELECT 1 FROM messages WHERE account_id = ? AND uidl = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	sqlite3_bind_text(stmt, 2, uidl, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		*error_r = store_error(st);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Copies size bytes of fd into the body blob of message id, a chunk at a time. */
static int
write_body(struct store *st, int64_t id, int fd, int64_t size, const char **error_r)
{
	sqlite3_stmt *stmt;
	sqlite3_blob *blob;
	char *buf;
	int64_t off = 0;

	if (store_prepare(st, "INSERT INTO bodies (message_id, data) VALUES (?, zeroblob(?))", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, size);
	if (store_run(st, stmt, NULL, error_r) == -1)
		return -1;
	if (size == 0)
		return 0;
	if (sqlite3_blob_open(store_db(st), "main", "bodies", "data", id, 1, &blob) != SQLITE_OK) {
		*error_r = store_error(st);
		return -1;
	}
	if ((buf = malloc(BODY_CHUNK)) == NULL) {
		sqlite3_blob_close(blob);
		*error_r = "out of memory";
		return -1;
	}
	while (off < size) {
		size_t want = size - off > BODY_CHUNK ? BODY_CHUNK : (size_t)(size - off);
		ssize_t n = pread(fd, buf, want, off);
		if (n <= 0) {
			*error_r = store_set_error(st, "reading spool: %s", n == 0 ? "short file" : strerror(errno));
			break;
		}
		if (sqlite3_blob_write(blob, buf, (int)n, (int)off) != SQLITE_OK) {
			*error_r = store_error(st);
			break;
		}
		off += n;
	}
	free(buf);
	sqlite3_blob_close(blob);
	return off == size ? 0 : -1;
}

int
store_message_add(struct store *st, int64_t account_id, const char *uidl, int fd, int64_t size,
    const char *from_addr, const char *subject, const char *date, int64_t *id_r, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (size > 1000000000) {
		*error_r = store_set_error(st, "message of %lld bytes is larger than the store accepts",
		    (long long)size);
		return -1;
	}
	if (store_prepare(st,
	    "INSERT INTO messages (account_id, uidl, size, state, from_addr, subject, date) "
	    "VALUES (?, ?, ?, 'pending', ?, ?, ?)", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	sqlite3_bind_text(stmt, 2, uidl, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, size);
	sqlite3_bind_text(stmt, 4, from_addr ? from_addr : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, subject ? subject : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, date ? date : "", -1, SQLITE_STATIC);
	if (store_run(st, stmt, NULL, error_r) == -1)
		return -1;
	*id_r = sqlite3_last_insert_rowid(store_db(st));
	return write_body(st, *id_r, fd, size, error_r);
}

int
store_message_set_verdict(struct store *st, int64_t id, enum msg_state state, const char *verdict,
    double score, const char *reasons, const char *added_headers, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st,
	    "UPDATE messages SET state = ?, verdict = ?, score = ?, reasons = ?, added_headers = ?, "
	    "subject_prefix = '' WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, store_msg_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, verdict, -1, SQLITE_STATIC);
	sqlite3_bind_double(stmt, 3, score);
	sqlite3_bind_text(stmt, 4, reasons, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, added_headers ? added_headers : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, id);
	return store_run(st, stmt, NULL, error_r) == -1 ? -1 : 0;
}

int
store_message_set_subject_prefix(struct store *st, int64_t id, const char *prefix, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "UPDATE messages SET subject_prefix = ? WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, id);
	return store_run(st, stmt, NULL, error_r) == -1 ? -1 : 0;
}

int
store_message_set_state(struct store *st, int64_t id, enum msg_state state, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "UPDATE messages SET state = ? WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_text(stmt, 1, store_msg_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, id);
	return store_run(st, stmt, NULL, error_r) == -1 ? -1 : 0;
}

int
store_message_get(struct store *st, int64_t id, struct store_message *m_r, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(m_r, 0, sizeof(*m_r));
	if (store_prepare(st, "SELECT " MSG_COLS " FROM messages m WHERE id = ?", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		fill_message(stmt, m_r);
	else if (rc != SQLITE_DONE)
		*error_r = store_error(st);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

struct message_walk {
	store_message_cb *cb;
	void *ctx;
};

static int
message_row(sqlite3_stmt *stmt, void *arg)
{
	struct message_walk *w = arg;
	struct store_message m;
	int ret;

	fill_message(stmt, &m);
	ret = w->cb(&m, w->ctx);
	store_message_clear(&m);
	return ret;
}

int
store_message_foreach(struct store *st, int64_t account_id, int state, store_message_cb *cb, void *ctx,
    const char **error_r)
{
	struct message_walk w = { cb, ctx };
	sqlite3_stmt *stmt;

	if (store_prepare(st, state < 0 ?
	    "SELECT " MSG_COLS " FROM messages m WHERE account_id = ? ORDER BY id" :
	    "SELECT " MSG_COLS " FROM messages m WHERE account_id = ? AND state = ? ORDER BY id", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, account_id);
	if (state >= 0)
		sqlite3_bind_text(stmt, 2, store_msg_state_name((enum msg_state)state), -1, SQLITE_STATIC);
	return store_each(st, stmt, message_row, &w, error_r);
}

int
store_message_gone(struct store *st, int64_t id, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_begin(st, error_r) == -1)
		return -1;
	if (store_prepare(st, "DELETE FROM bodies WHERE message_id = ?", &stmt, error_r) == -1) {
		store_rollback(st);
		return -1;
	}
	sqlite3_bind_int64(stmt, 1, id);
	if (store_run(st, stmt, NULL, error_r) == -1 ||
	    store_message_set_state(st, id, MSG_GONE, error_r) == -1) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st, error_r);
}

int
store_message_forget(struct store *st, int64_t id, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(st, "DELETE FROM messages WHERE id = ? AND state = 'gone'", &stmt, error_r) == -1)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	return store_run(st, stmt, NULL, error_r);
}

struct store_body {
	sqlite3_blob *blob;
	int64_t size;
	int64_t off;
};

int
store_body_open(struct store *st, int64_t message_id, struct store_body **b_r, const char **error_r)
{
	struct store_body *b;

	*b_r = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (sqlite3_blob_open(store_db(st), "main", "bodies", "data", message_id, 0, &b->blob) != SQLITE_OK) {
		*error_r = store_error(st);
		free(b);
		return -1;
	}
	b->size = sqlite3_blob_bytes(b->blob);
	*b_r = b;
	return 0;
}

ssize_t
store_body_read(struct store_body *b, void *buf, size_t len)
{
	size_t n;

	if (b->off >= b->size)
		return 0;
	n = b->size - b->off < (int64_t)len ? (size_t)(b->size - b->off) : len;
	if (sqlite3_blob_read(b->blob, buf, (int)n, (int)b->off) != SQLITE_OK)
		return -1;
	b->off += n;
	return (ssize_t)n;
}

int64_t
store_body_size(const struct store_body *b)
{
	return b->size;
}

void
store_body_close(struct store_body **bp)
{
	if (*bp == NULL)
		return;
	sqlite3_blob_close((*bp)->blob);
	free(*bp);
	*bp = NULL;
}
