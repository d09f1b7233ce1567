/*
 * pop3-client: the upstream side of popgate, one POP3 session to a
 * mailbox provider (RFC 1939, 2449 CAPA, 2595 STLS, 5034 AUTH, 3206 codes).
 *
 * Owns the connection (net), TLS (tls, always verified), the greeting,
 * CAPA, login (USER/PASS, AUTH PLAIN, APOP) and the transaction commands.
 * Every failure is classified by stage and code so that diagnostics can
 * say why ("tls_version_mismatch while connecting"), not just that it
 * failed. Messages are streamed to a file descriptor with dot-unstuffing
 * and a size ceiling; no message is ever held in memory. Remote text in
 * errors is sanitised; the password never appears in any error.
 * pop3-client never logs and never touches the store.
 */
#ifndef POPGATE_POP3_CLIENT_H
#define POPGATE_POP3_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "net.h"

struct pop3c_params {
	const char *host;
	int port;
	int starttls;		/* 1: plain connect then STLS; 0: implicit TLS */
	const char *login;
	const char *password;
	const char *auth;	/* "auto" (NULL), "user", "plain", "apop" */
	X509_STORE *store;	/* borrowed trust store; NULL: ca_file or the OS store */
	const char *ca_file;	/* NULL: the OS store */
	int timeout_ms;		/* per I/O step (connect, handshake, each reply) */
	int min_tls, max_tls;	/* e.g. TLS1_2_VERSION; 0: TLS 1.2 and 1.3 */
	int no_sasl_ir;		/* AUTH PLAIN always through a continuation */
	/* Called after a verified handshake (pins); non-zero refuses the peer. */
	int (*check_peer)(void *arg, SSL *ssl, char *err, size_t errlen);
	void *check_peer_arg;
	/*
	 * No certificate verification at all (SSL_VERIFY_NONE). Only for an
	 * account a person marked insecure and the configuration allows.
	 */
	int insecure;
	/*
	 * Called as each step of pop3c_connect() ends well: "connect", "tls",
	 * "greeting", "capa", "login" (for diagnostics and their timings).
	 */
	void (*step_done)(void *arg, const char *step);
	void *step_arg;
};

enum pop3c_stage {
	POP3C_STAGE_NONE,
	POP3C_STAGE_DNS,
	POP3C_STAGE_CONNECT,
	POP3C_STAGE_TLS,
	POP3C_STAGE_GREETING,
	POP3C_STAGE_AUTH,
	POP3C_STAGE_COMMAND,
};

enum pop3c_code {
	POP3C_OK,
	POP3C_DNS_FAILED,
	POP3C_CONNECT_FAILED,
	POP3C_TLS_VERSION_MISMATCH,
	POP3C_TLS_HANDSHAKE_FAILED,
	POP3C_CERT_UNTRUSTED,
	POP3C_CERT_SELF_SIGNED,
	POP3C_CERT_EXPIRED,
	POP3C_CERT_NAME_MISMATCH,
	POP3C_CERT_PIN_MISMATCH,
	POP3C_PROTOCOL_ERROR,	/* the server broke POP3 (or closed on us) */
	POP3C_AUTH_FAILED,	/* credentials refused ([AUTH] or plain -ERR) */
	POP3C_AUTH_UNAVAILABLE,	/* the chosen mechanism is not offered */
	POP3C_SERVER_TEMP,	/* [SYS/TEMP], [IN-USE], [LOGIN-DELAY]: try later */
	POP3C_SERVER_ERROR,	/* -ERR to a command after login */
	POP3C_TIMEOUT,
	POP3C_TOO_BIG,		/* message above the caller's ceiling */
	POP3C_LOCAL_ERROR,	/* our side: memory, writing the spool */
};

struct pop3c_failure {
	enum pop3c_stage stage;
	enum pop3c_code code;
	char resp_code[32];	/* RFC 2449 code of the -ERR, e.g. "AUTH" */
	char detail[512];	/* one line for people, sanitised */
};

/* "tls_version_mismatch", "auth_failed"... (stable: shown in the API). */
const char *pop3c_code_name(enum pop3c_code code);
const char *pop3c_stage_name(enum pop3c_stage stage);

struct pop3c;

struct pop3c_msg {
	unsigned num;
	char *uidl;
	int64_t size;
};

/*
 * Connects, TLS (implicit or STLS), greeting, CAPA, login. 0 with *c_r,
 * or -1 with the failure in *f (and *c_r NULL). att (may be NULL) gets
 * the addresses tried. A handshake that ends in a bare EOF or a version
 * alert is probed again with every TLS version to tell a version mismatch
 * from other failures.
 */
int pop3c_connect(const struct pop3c_params *p, struct pop3c **c_r, struct pop3c_failure *f,
    struct net_attempts *att);
/* pop3c_connect() with the failure as "stage: code: detail" in err. */
int pop3c_open(const struct pop3c_params *p, struct pop3c **c_r, char *err, size_t errlen);

/*
 * Connects (with STLS when p->starttls) and completes a TLS handshake
 * WITHOUT verification, offering min..max (0: every version OpenSSL can
 * speak), only to see what the server presents: never sends credentials.
 * 0 with the negotiated version and the peer's chain (leaf first; free
 * with sk_X509_pop_free(chain, X509_free)), or -1 with *f set.
 */
int pop3c_probe_tls(const struct pop3c_params *p, int min, int max, int *version_r,
    STACK_OF(X509) **chain_r, struct pop3c_failure *f);

/* The last failure on c (after a -1 from any command). */
const struct pop3c_failure *pop3c_last_failure(const struct pop3c *c);

/* What was learnt on the way in (borrowed strings, valid while c lives). */
const char *pop3c_greeting(const struct pop3c *c);
const char *pop3c_tls_version(const struct pop3c *c);
const char *pop3c_tls_cipher(const struct pop3c *c);
/* 1 if CAPA listed name (e.g. "UIDL", "PIPELINING", "SASL PLAIN"). */
int pop3c_has_capa(const struct pop3c *c, const char *name);
/* The CAPA lines as received (after TLS), i < pop3c_capa_count(). */
size_t pop3c_capa_count(const struct pop3c *c);
const char *pop3c_capa_line(const struct pop3c *c, size_t i);
/* The mechanism actually used to log in: "user", "plain" or "apop". */
const char *pop3c_auth_used(const struct pop3c *c);
SSL *pop3c_ssl(const struct pop3c *c);

int pop3c_stat(struct pop3c *c, unsigned *count_r, int64_t *size_r, char *err, size_t errlen);
/* Every message with its number, UIDL and size (UIDL then LIST), by number. */
int pop3c_uidl(struct pop3c *c, struct pop3c_msg **msgs_r, size_t *n_r, char *err, size_t errlen);
void pop3c_msgs_free(struct pop3c_msg **msgsp, size_t n);
/*
 * RETR num, unstuffed, lines ending in CRLF, appended to fd at its current
 * offset. Above max bytes the rest is read and dropped, and it fails with
 * POP3C_TOO_BIG (the session stays usable). *size_r gets the bytes written.
 */
int pop3c_retr(struct pop3c *c, unsigned num, int fd, int64_t max, int64_t *size_r, char *err, size_t errlen);
/* TOP num lines, like pop3c_retr. */
int pop3c_top(struct pop3c *c, unsigned num, unsigned lines, int fd, int64_t max, int64_t *size_r,
    char *err, size_t errlen);
int pop3c_dele(struct pop3c *c, unsigned num, char *err, size_t errlen);
int pop3c_rset(struct pop3c *c, char *err, size_t errlen);
int pop3c_noop(struct pop3c *c, char *err, size_t errlen);
/* QUIT: deletions take effect only if this returns 0. */
int pop3c_quit(struct pop3c *c, char *err, size_t errlen);
void pop3c_free(struct pop3c **cp);

/* ---- wire parsing, exposed for the unit and fuzz tests ---- */

struct pop3c_status {
	int ok;			/* +OK (1) or -ERR (0) */
	int cont;		/* "+ " continuation (SASL) */
	char code[32];		/* response code in brackets, "" if none */
	const char *text;	/* rest of the line after status and code */
};
/* Parses a status line (text points into line). -1 if it is neither. */
int pop3c_parse_status(const char *line, struct pop3c_status *st);
/* "<num> <uidl>" of a UIDL listing. */
int pop3c_parse_uidl(const char *line, unsigned *num_r, char *uidl, size_t uidlsize);
/* "<num> <size>" of a LIST listing (and of STAT's reply text). */
int pop3c_parse_list(const char *line, unsigned *num_r, int64_t *size_r);
/* The APOP timestamp "<...@...>" of a greeting into ts. -1 if none. */
int pop3c_apop_timestamp(const char *greeting, char *ts, size_t tssize);

/* Streaming decoder of a multi-line body (after its status line). */
struct pop3c_dot {
	int state;
	int done;		/* the terminating "." line was seen */
};
void pop3c_dot_init(struct pop3c_dot *d);
/*
 * Decodes up to len bytes of in into out (room for 2 * len bytes): dots
 * unstuffed, line ends made CRLF. Stops right after the terminator.
 * Returns the bytes of in consumed; *out_len the bytes written.
 */
size_t pop3c_dot_decode(struct pop3c_dot *d, const char *in, size_t len, char *out, size_t *out_len);

#endif
