/*
 * tls: OpenSSL contexts for both sides, and what a failed handshake means.
 *
 * Client contexts always verify the peer (a trust store, a CA file, or the
 * operating system's store) and default to TLS 1.2 through 1.3; the host
 * name or IP to check is set per connection by conn_tls_connect(). Server
 * contexts come from certificate and key files, with a self-signed pair
 * generated on first start; a tls_server holder swaps in a reloaded context
 * atomically (SIGHUP) while sessions keep the one they started with.
 * tls never logs, never reads the database, and never turns verification off
 * for a real connection (only tls_probe contexts skip it, to name a version).
 */
#ifndef POPGATE_TLS_H
#define POPGATE_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

struct tls_client_opts {
	X509_STORE *store;	/* borrowed trust store; wins over ca_file */
	const char *ca_file;	/* PEM bundle; NULL with no store: the OS store */
	int min_version;	/* TLS1_2_VERSION etc.; 0: TLS 1.2 */
	int max_version;	/* 0: TLS 1.3 */
	int insecure;		/* no certificate checks: only for accounts a person marked insecure */
};

/*
 * Functions that can fail write why into err (errlen bytes) and return
 * NULL or -1.
 */

/* A verifying client context. */
SSL_CTX *tls_client_ctx_new(const struct tls_client_opts *o, char *err, size_t errlen);
/*
 * A non-verifying client context spanning every version OpenSSL can still
 * speak (TLS 1.0 to 1.3 at security level 0): only for diagnosing which
 * versions a server accepts, never for mail or passwords.
 */
SSL_CTX *tls_probe_ctx_new(int min_version, int max_version, char *err, size_t errlen);

/* The OS trust store: OpenSSL's built-in paths, ignoring SSL_CERT_FILE/DIR. */
int tls_load_system_store(X509_STORE *store, char *err, size_t errlen);

/* "1.2", "TLSv1.2", "tls1.2" -> TLS1_2_VERSION; -1 if unknown. */
int tls_version_parse(const char *s);
/* TLS1_2_VERSION -> "TLSv1.2". */
const char *tls_version_name(int version);

/* Server context from a PEM chain and key (TLS 1.2 minimum). */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen);

/*
 * Writes a self-signed EC P-256 certificate (SAN localhost, 127.0.0.1, ::1)
 * and its key (mode 0600) when both files are absent. Returns 1 if made,
 * 0 if both exist, -1 on error (also when only one of them exists).
 */
int tls_server_ensure_cert(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* A server context that can be reloaded while sessions use the old one. */
struct tls_server;
struct tls_server *tls_server_new(const char *cert_file, const char *key_file, char *err, size_t errlen);
/* A new reference to the current context: SSL_CTX_free() it when done. */
SSL_CTX *tls_server_ctx(struct tls_server *ts);
/* Rebuilds from the same files; on error the old context stays. */
int tls_server_reload(struct tls_server *ts, char *err, size_t errlen);
void tls_server_free(struct tls_server **tsp);

/* Why a client handshake failed, from conn_ssl_error() and conn_verify_result(). */
enum tls_failure {
	TLS_FAIL_NONE,
	TLS_FAIL_VERSION,	/* no common protocol version */
	TLS_FAIL_HANDSHAKE,	/* anything else in the handshake */
	TLS_FAIL_UNTRUSTED,	/* chain does not lead to a trusted root */
	TLS_FAIL_SELF_SIGNED,	/* the server's certificate is self-signed */
	TLS_FAIL_EXPIRED,	/* expired or not yet valid */
	TLS_FAIL_NAME,		/* certificate is for another name */
	TLS_FAIL_EOF,		/* peer closed during the handshake: needs a probe */
};
enum tls_failure tls_classify(unsigned long ssl_error, long verify_result);

#endif
