/*
 * conn: a buffered, deadline-bound byte stream over a socket, plain or TLS.
 *
 * Used by both POP3 sides. Reads are line oriented with a hard ceiling on
 * line length; writes go through a bounded output buffer. TLS can start at
 * any point (STLS) and the handshake is bounded by the same deadlines.
 * conn never logs; it reports through its return codes and conn_error().
 */
#ifndef POPGATE_CONN_H
#define POPGATE_CONN_H

#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

enum {
	CONN_EOF = -1,      /* peer closed */
	CONN_TIMEOUT = -2,  /* deadline passed */
	CONN_ERROR = -3,    /* I/O or TLS error: see conn_error() */
	CONN_TOOLONG = -4,  /* line longer than the buffer: it was discarded up to its LF */
};

struct conn;

/*
 * Every timeout_ms is the deadline for the whole call, not per read;
 * a negative value means no deadline. Lines longer than the 16 KiB
 * input buffer are too long whatever the caller's buffer size. A read that
 * has to wait for the peer first flushes pending output, so buffered
 * replies to pipelined commands go out in one write.
 * A peer that went away never raises SIGPIPE through conn.
 */

/* Takes ownership of fd (made non-blocking). */
struct conn *conn_new(int fd);
void conn_free(struct conn **cp);
int conn_fd(const struct conn *c);

/* Server side of TLS (implicit or after STLS). 0 or CONN_* error. */
int conn_tls_accept(struct conn *c, SSL_CTX *ctx, int timeout_ms);
/* Client side: sets SNI and the host name to verify (sni_host may be an IP literal). */
int conn_tls_connect(struct conn *c, SSL_CTX *ctx, const char *sni_host, int timeout_ms);
/* The SSL object once TLS is up, else NULL (borrowed). */
SSL *conn_ssl(const struct conn *c);

/*
 * Reads one line into buf without its CRLF (or bare LF), NUL-terminated.
 * Returns its length or a CONN_* code. Bytes past the line stay buffered.
 */
ssize_t conn_read_line(struct conn *c, char *buf, size_t size, int timeout_ms);
/*
 * For bodies whose lines may be longer than any buffer: reads up to size
 * bytes of the current line (no NUL added). *eol_r is set to 1 when the
 * line ends with these bytes (its CRLF or LF is consumed, not returned).
 * Returns the byte count (0 for an empty line) or a CONN_* code.
 */
ssize_t conn_read_line_part(struct conn *c, char *buf, size_t size, int *eol_r, int timeout_ms);
/* Reads exactly len raw bytes or fails. */
int conn_read_exact(struct conn *c, void *buf, size_t len, int timeout_ms);
/* Whether input is already buffered (PIPELINING: answer in one flush). */
int conn_has_input(const struct conn *c);
/* Drops buffered plaintext input (required after STLS, RFC 2595). */
void conn_discard_input(struct conn *c);

/* Buffers len bytes, flushing as the bounded buffer fills. 0 or CONN_*. */
int conn_write(struct conn *c, const void *buf, size_t len, int timeout_ms);
int conn_printf(struct conn *c, int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int conn_flush(struct conn *c, int timeout_ms);

/* Human text for the last CONN_ERROR (OpenSSL's reason or strerror). */
const char *conn_error(const struct conn *c);
/* The OpenSSL verify result of the last TLS connect (X509_V_OK when fine). */
long conn_verify_result(const struct conn *c);
/* The last OpenSSL error code (ERR_GET_REASON() it), 0 if none: for diagnostics. */
unsigned long conn_ssl_error(const struct conn *c);

#endif
