/*
 * store: all persistent state, in one SQLite file (STATE/popgate.db).
 *
 * One struct store (one sqlite3 connection) per thread; WAL mode with a busy
 * timeout and short transactions. Migrations are the numbered files in sql/,
 * embedded into the binary and applied at open, in one transaction, tracked
 * with PRAGMA user_version. Each table group has its own file
 * (store-users.c, store-accounts.c, store-messages.c, ...). Nothing here logs:
 * errors come back through error_r (a string owned by the store, valid until
 * its next call).
 */
#ifndef POPGATE_STORE_H
#define POPGATE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sqlite3.h>

struct store;

/* Opens (creating) the database at path and applies pending migrations. */
int store_open(const char *path, struct store **st_r, const char **error_r);
void store_close(struct store **stp);
/* The raw connection, for the store-*.c files of other modules. */
sqlite3 *store_db(struct store *st);
/* Sets and returns the store's error string from the connection's last error. */
const char *store_error(struct store *st);
const char *store_set_error(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int store_schema_version(struct store *st);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int store_begin(struct store *st, const char **error_r);
int store_commit(struct store *st, const char **error_r);
void store_rollback(struct store *st);

/* ---- users (store-users.c) ---- */
struct store_user {
	int64_t id;
	char *name;
	char *pwhash;
	int admin;
};
void store_user_clear(struct store_user *u);
int store_user_add(struct store *st, const char *name, const char *pwhash, int admin, const char **error_r);
/* Returns 1 found, 0 not found, -1 error. */
int store_user_get(struct store *st, const char *name, struct store_user *u_r, const char **error_r);
/* Returns 1 deleted, 0 not found, -1 error. Deletes the user's accounts too. */
int store_user_del(struct store *st, const char *name, const char **error_r);
typedef int store_user_cb(const struct store_user *u, void *ctx);
int store_user_foreach(struct store *st, store_user_cb *cb, void *ctx, const char **error_r);

/* ---- accounts (store-accounts.c) ---- */
enum store_tls { STORE_TLS_IMPLICIT, STORE_TLS_STARTTLS };
struct store_account {
	int64_t id;
	int64_t owner_id;
	char *owner;           /* user name */
	char *name;
	char *host;
	int port;
	enum store_tls tls;
	char *login;
	unsigned char *secret; /* encrypted with the secret box (crypto.h) */
	size_t secret_len;
	char *ca_file;         /* NULL: system trust store */
	char *auth;            /* "auto", "user", "plain", "apop" */
};
void store_account_clear(struct store_account *a);
int store_account_add(struct store *st, struct store_account *a, const char **error_r);
/* By owner name and account name. Returns 1 found, 0 not found, -1 error. */
int store_account_get(struct store *st, const char *owner, const char *name,
    struct store_account *a_r, const char **error_r);
int store_account_get_id(struct store *st, int64_t id, struct store_account *a_r, const char **error_r);
int store_account_del(struct store *st, const char *owner, const char *name, const char **error_r);
typedef int store_account_cb(const struct store_account *a, void *ctx);
/* owner NULL: every account. */
int store_account_foreach(struct store *st, const char *owner, store_account_cb *cb, void *ctx,
    const char **error_r);

/* ---- messages and bodies (store-messages.c) ---- */
enum msg_state {
	MSG_PENDING,   /* fetched, not yet classified: never shown */
	MSG_HAM,       /* classified ham or unsure: shown */
	MSG_SPAM,      /* quarantined: hidden */
	MSG_RELEASED,  /* spam released by a person: shown */
	MSG_DELETED,   /* deleted by the client; upstream DELE pending */
	MSG_GONE,      /* no longer upstream; kept as a record */
	MSG_STATE_COUNT
};
const char *store_msg_state_name(enum msg_state s);
int store_msg_state_parse(const char *name, enum msg_state *s_r);

struct store_message {
	int64_t id;
	int64_t account_id;
	char *uidl;
	int64_t size;          /* raw bytes as fetched upstream */
	enum msg_state state;
	double score;
	char *verdict;         /* "ham", "unsure", "spam" or NULL */
	char *reasons;         /* JSON or NULL */
	char *added_headers;   /* CRLF lines popgate prepends on RETR/TOP; may be "" */
	char *subject_prefix;  /* inserted after "Subject:" on RETR/TOP; may be "" */
	char *from_addr;
	char *subject;
	char *date;
	int64_t fetched_at;
	int has_body;
};
void store_message_clear(struct store_message *m);

/* Returns 1 if the account already has a message with this UIDL (any state). */
int store_message_known(struct store *st, int64_t account_id, const char *uidl, const char **error_r);
/*
 * Adds a message in state pending with its body copied in bounded chunks
 * from fd (size bytes from offset 0). Call inside a transaction.
 */
int store_message_add(struct store *st, int64_t account_id, const char *uidl, int fd, int64_t size,
    const char *from_addr, const char *subject, const char *date, int64_t *id_r, const char **error_r);
int store_message_set_verdict(struct store *st, int64_t id, enum msg_state state, const char *verdict,
    double score, const char *reasons, const char *added_headers, const char **error_r);
/* Sets the Subject prefix (after store_message_set_verdict, which clears it). */
int store_message_set_subject_prefix(struct store *st, int64_t id, const char *prefix, const char **error_r);
int store_message_set_state(struct store *st, int64_t id, enum msg_state state, const char **error_r);
/* Returns 1 found, 0 not found, -1 error. */
int store_message_get(struct store *st, int64_t id, struct store_message *m_r, const char **error_r);
typedef int store_message_cb(const struct store_message *m, void *ctx);
/* Messages of one account in the given state (state -1: all), oldest first. */
int store_message_foreach(struct store *st, int64_t account_id, int state, store_message_cb *cb, void *ctx,
    const char **error_r);
/* Drops the body and marks the message gone (after the upstream DELE). */
int store_message_gone(struct store *st, int64_t id, const char **error_r);
/* Deletes the record of a gone message (only if it is gone). */
int store_message_forget(struct store *st, int64_t id, const char **error_r);

/* Streams a body in chunks. */
struct store_body;
int store_body_open(struct store *st, int64_t message_id, struct store_body **b_r, const char **error_r);
/* Reads up to len bytes; returns bytes read, 0 at end, -1 on error. */
ssize_t store_body_read(struct store_body *b, void *buf, size_t len);
int64_t store_body_size(const struct store_body *b);
void store_body_close(struct store_body **bp);

/* ---- allow/block lists (store-lists.c) ---- */
int store_list_add(struct store *st, const char *kind, const char *pattern, const char **error_r);
int store_list_del(struct store *st, const char *kind, const char *pattern, const char **error_r);
typedef int store_list_cb(const char *kind, const char *pattern, void *ctx);
int store_list_foreach(struct store *st, store_list_cb *cb, void *ctx, const char **error_r);

/* ---- trust stores and per-account trust (store-trust.c) ---- */
/*
 * Custom trust stores hold PEM certificates; "system" and "mozilla" are
 * built in and are not rows. Names follow cmd_valid_name().
 */
struct store_trust_cert {
	int64_t id;
	char *store;
	char *sha256;          /* "AB:CD:..." */
	char *subject;
	char *pem;
	int64_t added;
};
void store_trust_cert_clear(struct store_trust_cert *c);
/* Returns 1 if the custom store exists, 0 if not, -1 on error. */
int store_trust_exists(struct store *st, const char *name, const char **error_r);
/* Adds a certificate, creating the store. 1 added, 0 already there, -1 error. */
int store_trust_cert_add(struct store *st, const char *store, const char *sha256, const char *subject,
    const char *pem, const char **error_r);
/*
 * Deletes one certificate (sha256) or, with sha256 NULL, the whole store,
 * which must not be named by any account. 1 deleted, 0 not found, -1 error.
 */
int store_trust_del(struct store *st, const char *store, const char *sha256, const char **error_r);
typedef int store_trust_store_cb(const char *name, int certs, int accounts, void *ctx);
int store_trust_store_foreach(struct store *st, store_trust_store_cb *cb, void *ctx, const char **error_r);
typedef int store_trust_cert_cb(const struct store_trust_cert *c, void *ctx);
int store_trust_cert_foreach(struct store *st, const char *store, store_trust_cert_cb *cb, void *ctx,
    const char **error_r);
/* Every PEM of a store, concatenated (malloc'd). 1 found, 0 no such store, -1 error. */
int store_trust_pem(struct store *st, const char *store, char **pem_r, size_t *len_r, const char **error_r);

struct store_account_trust {
	char *trust;           /* "system", "mozilla" or a custom store */
	char *pins;            /* "sha256/..." lines, "" for none */
	int tofu;              /* record the key on first success */
	char *pending_pin;     /* TOFU: a changed key awaiting acceptance, "" */
	char min_tls[4];       /* "1.2" or "1.3" */
	char max_tls[4];
	int insecure;          /* no certificate checks (refused unless allowed) */
};
void store_account_trust_clear(struct store_account_trust *t);
/* Returns 1 found, 0 not found, -1 error. */
int store_account_trust_get(struct store *st, int64_t account_id, struct store_account_trust *t_r,
    const char **error_r);
/* Writes every field; clear_ca_file drops the old --ca-file setting. */
int store_account_trust_set(struct store *st, int64_t account_id, const struct store_account_trust *t,
    int clear_ca_file, const char **error_r);
/* TOFU: records pin as the account's only pin if it has none yet. 1 recorded, 0 not. */
int store_account_trust_record_pin(struct store *st, int64_t account_id, const char *pin,
    const char **error_r);
/* TOFU: a changed key seen ("" clears). */
int store_account_trust_set_pending(struct store *st, int64_t account_id, const char *pin,
    const char **error_r);

/* ---- API tokens and the audit log (store-web.c) ---- */
/*
 * Tokens are kept only as the hex SHA-256 of the token (65 bytes with the
 * NUL). Lookup walks every token and compares in constant time.
 */
struct store_api_token {
	int64_t id;
	int64_t user_id;
	char *user;            /* user name */
	char *name;
	int64_t created;
	int64_t last_used;     /* 0: never */
};
void store_api_token_clear(struct store_api_token *t);
int store_api_token_add(struct store *st, int64_t user_id, const char *name, const char *hash_hex,
    int64_t *id_r, const char **error_r);
/* Returns 1 deleted, 0 not found, -1 error. */
int store_api_token_del(struct store *st, int64_t id, const char **error_r);
typedef int store_api_token_cb(const struct store_api_token *t, void *ctx);
/* user NULL: every token. */
int store_api_token_foreach(struct store *st, const char *user, store_api_token_cb *cb, void *ctx,
    const char **error_r);
/*
 * The user a token hash belongs to: 1 found (u_r filled, *token_id_r set,
 * last_used refreshed at most once a minute), 0 no such token, -1 error.
 */
int store_api_token_find(struct store *st, const char *hash_hex, int64_t now, struct store_user *u_r,
    int64_t *token_id_r, const char **error_r);
int store_audit_add(struct store *st, const char *user, const char *action, const char *target,
    const char *result, const char **error_r);

/* ---- dashboard sessions (store-web.c, sql/007-sessions.sql) ---- */
/* A new session for a cookie hash; expired sessions are swept at the same time. */
int store_session_add(struct store *st, int64_t user_id, const char *hash_hex, const char *csrf,
    int64_t now, int64_t expires, const char **error_r);
/*
 * The live session of a cookie hash: 1 found (u_r filled, its CSRF token
 * copied into csrf, 65 bytes), 0 none or expired, -1 error.
 */
int store_session_find(struct store *st, const char *hash_hex, int64_t now, struct store_user *u_r,
    char csrf[65], const char **error_r);
/* Returns 1 deleted, 0 not found, -1 error. */
int store_session_del(struct store *st, const char *hash_hex, const char **error_r);

#endif
