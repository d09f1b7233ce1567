/*
 * conn: buffered, deadline-bound socket stream, plain or TLS.
 *
 * The socket is non-blocking; every wait goes through poll() with what is
 * left of the caller's deadline. OpenSSL runs directly on the fd, and its
 * WANT_READ/WANT_WRITE answers become the poll events to wait for.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conn.h"

#define CONN_IN_SIZE	16384
#define CONN_OUT_SIZE	16384

struct conn {
	int		 fd;
	SSL		*ssl;
	int		 eof;		/* peer closed: no more reads */
	int		 discarding;	/* inside a too-long line */

	char		 in[CONN_IN_SIZE];
	size_t		 in_pos;	/* first unread byte */
	size_t		 in_len;	/* end of buffered bytes */

	char		 out[CONN_OUT_SIZE];
	size_t		 out_len;

	long		 verify_result;
	unsigned long	 ssl_error;	/* last OpenSSL error code, 0 if none */
	char		 error[256];
};

/*
 * OpenSSL writes to the socket with write(), so a peer that went away
 * raises SIGPIPE, which kills a process that did not ignore it (a CLI
 * command, say). Around OpenSSL calls that may write, SIGPIPE is blocked
 * for this thread and a SIGPIPE it caused is consumed (as curl does).
 */
struct conn_sigpipe {
	sigset_t	old;
	int		was_pending;
};

static void
conn_sigpipe_block(struct conn_sigpipe *sp)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	sp->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &sp->old);
}

static void
conn_sigpipe_restore(struct conn_sigpipe *sp)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t set, pending;

	if (!sp->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) == -1 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &sp->old, NULL);
}

static int64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A negative timeout means no deadline. */
static int64_t
conn_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return conn_now_ms() + timeout_ms;
}

static void conn_set_error(struct conn *, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
conn_set_error(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
}

/* Waits until fd is ready for events or the deadline passes. */
static int
conn_wait(struct conn *c, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int n;

	for (;;) {
		if (deadline < 0)
			left = -1;
		else {
			left = deadline - conn_now_ms();
			if (left <= 0)
				return CONN_TIMEOUT;
			if (left > INT32_MAX)
				left = INT32_MAX;
		}
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;	/* errors and hangups show up on the next I/O */
		if (n == 0)
			return CONN_TIMEOUT;
		if (errno != EINTR) {
			conn_set_error(c, "poll: %s", strerror(errno));
			return CONN_ERROR;
		}
	}
}

/* Records the OpenSSL reason for a failed call, or errno's text. */
static void
conn_ssl_failed(struct conn *c, const char *what, int sslerr, int saved_errno)
{
	unsigned long e, last = 0;
	char buf[200];

	while ((e = ERR_get_error()) != 0)
		last = e;
	c->ssl_error = last;
	if (last != 0) {
		ERR_error_string_n(last, buf, sizeof buf);
		const char *reason = ERR_reason_error_string(last);
		conn_set_error(c, "%s: %s", what, reason != NULL ? reason : buf);
	} else if (sslerr == SSL_ERROR_SYSCALL && saved_errno != 0)
		conn_set_error(c, "%s: %s", what, strerror(saved_errno));
	else if (sslerr == SSL_ERROR_SYSCALL || sslerr == SSL_ERROR_ZERO_RETURN)
		conn_set_error(c, "%s: unexpected eof while reading", what);
	else
		conn_set_error(c, "%s: TLS error %d", what, sslerr);
}

struct conn *
conn_new(int fd)
{
	struct conn *c;
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return NULL;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->fd = fd;
	c->verify_result = X509_V_OK;
	return c;
}

void
conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		/* One try at close_notify; never wait for the peer's. */
		if (!c->eof) {
			struct conn_sigpipe sp;

			ERR_clear_error();
			conn_sigpipe_block(&sp);
			SSL_shutdown(c->ssl);
			conn_sigpipe_restore(&sp);
		}
		ERR_clear_error();
		SSL_free(c->ssl);
	}
	if (c->fd != -1)
		close(c->fd);
	free(c);
	*cp = NULL;
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

SSL *
conn_ssl(const struct conn *c)
{
	return c->ssl;
}

const char *
conn_error(const struct conn *c)
{
	return c->error[0] != '\0' ? c->error : "no error";
}

long
conn_verify_result(const struct conn *c)
{
	return c->verify_result;
}

unsigned long
conn_ssl_error(const struct conn *c)
{
	return c->ssl_error;
}

static int
conn_handshake(struct conn *c, int server, int timeout_ms)
{
	int64_t deadline = conn_deadline(timeout_ms);
	struct conn_sigpipe sp;
	int r, err, saved, w;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		conn_sigpipe_block(&sp);
		r = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
		saved = errno;
		conn_sigpipe_restore(&sp);
		if (r == 1)
			return 0;
		err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_WANT_READ)
			w = conn_wait(c, POLLIN, deadline);
		else if (err == SSL_ERROR_WANT_WRITE)
			w = conn_wait(c, POLLOUT, deadline);
		else {
			if (!server)
				c->verify_result = SSL_get_verify_result(c->ssl);
			conn_ssl_failed(c, "TLS handshake", err, saved);
			if (!server && c->verify_result != X509_V_OK)
				conn_set_error(c, "TLS handshake: certificate verify failed: %s",
				    X509_verify_cert_error_string(c->verify_result));
			c->eof = 1;	/* no close_notify on a failed handshake */
			return CONN_ERROR;
		}
		if (w != 0) {
			if (w == CONN_TIMEOUT)
				conn_set_error(c, "TLS handshake: timed out");
			return w;
		}
	}
}

static int
conn_tls_setup(struct conn *c, SSL_CTX *ctx)
{
	if (c->ssl != NULL) {
		conn_set_error(c, "TLS already active");
		return -1;
	}
	ERR_clear_error();
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		conn_ssl_failed(c, "TLS setup", SSL_ERROR_SSL, 0);
		if (c->ssl != NULL) {
			SSL_free(c->ssl);
			c->ssl = NULL;
		}
		return -1;
	}
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	c->ssl_error = 0;
	c->error[0] = '\0';
	return 0;
}

int
conn_tls_accept(struct conn *c, SSL_CTX *ctx, int timeout_ms)
{
	int r;

	if ((r = conn_flush(c, timeout_ms)) != 0)
		return r;
	if (conn_tls_setup(c, ctx) == -1)
		return CONN_ERROR;
	return conn_handshake(c, 1, timeout_ms);
}

static int
conn_is_ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int
conn_tls_connect(struct conn *c, SSL_CTX *ctx, const char *sni_host, int timeout_ms)
{
	X509_VERIFY_PARAM *vp;
	int r;

	if ((r = conn_flush(c, timeout_ms)) != 0)
		return r;
	if (conn_tls_setup(c, ctx) == -1)
		return CONN_ERROR;
	c->verify_result = X509_V_OK;
	if (sni_host != NULL && *sni_host != '\0') {
		vp = SSL_get0_param(c->ssl);
		if (conn_is_ip_literal(sni_host)) {
			/* RFC 6066: no SNI for addresses; match the IP SAN instead. */
			r = X509_VERIFY_PARAM_set1_ip_asc(vp, sni_host);
		} else {
			r = SSL_set_tlsext_host_name(c->ssl, sni_host) == 1 &&
			    SSL_set1_host(c->ssl, sni_host) == 1;
			X509_VERIFY_PARAM_set_hostflags(vp,
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		}
		if (r != 1) {
			conn_ssl_failed(c, "TLS setup: bad host name", SSL_ERROR_SSL, 0);
			return CONN_ERROR;
		}
	}
	return conn_handshake(c, 0, timeout_ms);
}

static int
conn_left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - conn_now_ms();
	if (left < 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Whatever we said must reach the peer before we wait for its answer. */
static int
conn_flush_before_wait(struct conn *c, int64_t deadline)
{
	if (c->out_len == 0)
		return 0;
	return conn_flush(c, conn_left_ms(deadline));
}

/*
 * Reads more bytes into the input buffer (compacting it first). Returns the
 * number of bytes added (> 0) or a CONN_* code.
 */
static int
conn_fill(struct conn *c, int64_t deadline)
{
	struct conn_sigpipe sp;
	size_t space, got;
	ssize_t n;
	int r, err, saved, w;

	if (c->in_pos == c->in_len)
		c->in_pos = c->in_len = 0;
	else if (c->in_pos > 0) {
		memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
		c->in_len -= c->in_pos;
		c->in_pos = 0;
	}
	space = sizeof c->in - c->in_len;
	if (space == 0)
		return CONN_TOOLONG;	/* readers drain a full buffer first */
	if (c->eof)
		return CONN_EOF;

	for (;;) {
		if (c->ssl == NULL) {
			n = read(c->fd, c->in + c->in_len, space);
			if (n > 0) {
				c->in_len += (size_t)n;
				return (int)n;
			}
			if (n == 0) {
				c->eof = 1;
				return CONN_EOF;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				if (errno == ECONNRESET) {
					c->eof = 1;
					return CONN_EOF;
				}
				conn_set_error(c, "read: %s", strerror(errno));
				return CONN_ERROR;
			}
			if ((w = conn_flush_before_wait(c, deadline)) == 0)
				w = conn_wait(c, POLLIN, deadline);
		} else {
			ERR_clear_error();
			errno = 0;
			conn_sigpipe_block(&sp);	/* a read may answer a KeyUpdate */
			r = SSL_read_ex(c->ssl, c->in + c->in_len, space, &got);
			saved = errno;
			conn_sigpipe_restore(&sp);
			if (r == 1) {
				c->in_len += got;
				return (int)got;
			}
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_READ) {
				if ((w = conn_flush_before_wait(c, deadline)) == 0)
					w = conn_wait(c, POLLIN, deadline);
			} else if (err == SSL_ERROR_WANT_WRITE)
				w = conn_wait(c, POLLOUT, deadline);
			else if (err == SSL_ERROR_ZERO_RETURN) {
				c->eof = 1;
				return CONN_EOF;
			} else {
				/*
				 * A peer that closes without close_notify is
				 * common and harmless for POP3 (the protocol
				 * frames its own data): treat as EOF.
				 */
				conn_ssl_failed(c, "TLS read", err, saved);
				c->eof = 1;
				if (err == SSL_ERROR_SYSCALL && (saved == 0 ||
				    saved == ECONNRESET))
					return CONN_EOF;
				if (err == SSL_ERROR_SSL && ERR_GET_REASON(c->ssl_error) ==
				    SSL_R_UNEXPECTED_EOF_WHILE_READING)
					return CONN_EOF;
				return CONN_ERROR;
			}
		}
		if (w != 0)
			return w;
	}
}

/*
 * The loop both line readers share: fills the input buffer until it holds
 * a LF, then returns 1 with *line_r at the line's first byte, *len_r its
 * length without the CRLF (or bare LF) and *end_r the input position just
 * past the LF; nothing is consumed. With partial set, it returns 0 as soon
 * as bytes of a line whose LF has not come yet are buffered (*len_r of
 * them, less a last CR that may belong to the CRLF). Without it, a line
 * longer than size (or than the input buffer) puts the conn into discard
 * mode: its bytes are dropped as they come, up to its LF. A CONN_* code
 * when filling fails.
 */
static int
conn_find_line(struct conn *c, int64_t deadline, size_t size, int partial,
    char **line_r, size_t *len_r, size_t *end_r)
{
	size_t avail, len;
	char *p, *lf;
	int r;

	for (;;) {
		p = c->in + c->in_pos;
		avail = c->in_len - c->in_pos;
		lf = memchr(p, '\n', avail);
		len = lf != NULL ? (size_t)(lf - p) : avail;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (lf != NULL) {
			*line_r = p;
			*len_r = len;
			*end_r = (size_t)(lf - c->in) + 1;
			return 1;
		}
		if (partial) {
			if (len > 0) {
				*line_r = p;
				*len_r = len;
				return 0;
			}
		} else if (c->discarding || avail > size || avail == sizeof c->in) {
			/* Keep a last CR: it may belong to the CRLF. */
			c->discarding = 1;
			c->in_pos += len;
		}
		if ((r = conn_fill(c, deadline)) < 0)
			return r;
	}
}

/*
 * Bytes are consumed only once a whole line is there, so a timeout loses
 * nothing. A line that cannot fit in buf (or in the input buffer) puts the
 * conn into discard mode until its LF, which survives timeouts too.
 */
ssize_t
conn_read_line(struct conn *c, char *buf, size_t size, int timeout_ms)
{
	int64_t deadline = conn_deadline(timeout_ms);
	size_t len, end;
	char *p;
	int r;

	if (size == 0)
		return CONN_TOOLONG;
	if ((r = conn_find_line(c, deadline, size, 0, &p, &len, &end)) < 0) {
		buf[0] = '\0';
		return r;
	}
	c->in_pos = end;
	if (c->discarding || len > size - 1) {
		c->discarding = 0;
		buf[0] = '\0';
		return CONN_TOOLONG;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	return (ssize_t)len;
}

ssize_t
conn_read_line_part(struct conn *c, char *buf, size_t size, int *eol_r, int timeout_ms)
{
	int64_t deadline = conn_deadline(timeout_ms);
	size_t len, end;
	char *p;
	int r;

	*eol_r = 0;
	if (size == 0)
		return CONN_TOOLONG;
	if ((r = conn_find_line(c, deadline, size, 1, &p, &len, &end)) < 0)
		return r;
	if (r == 1 && len <= size) {
		memcpy(buf, p, len);
		c->in_pos = end;
		*eol_r = 1;
		return (ssize_t)len;
	}
	if (len > size)
		len = size;
	memcpy(buf, p, len);
	c->in_pos += len;
	return (ssize_t)len;
}

int
conn_read_exact(struct conn *c, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = conn_deadline(timeout_ms);
	unsigned char *p = buf;
	size_t avail, n;
	int r;

	while (len > 0) {
		avail = c->in_len - c->in_pos;
		if (avail == 0) {
			if ((r = conn_fill(c, deadline)) < 0)
				return r;
			continue;
		}
		n = avail < len ? avail : len;
		memcpy(p, c->in + c->in_pos, n);
		c->in_pos += n;
		p += n;
		len -= n;
	}
	return 0;
}

int
conn_has_input(const struct conn *c)
{
	if (c->in_pos < c->in_len)
		return 1;
	return c->ssl != NULL && SSL_pending(c->ssl) > 0;
}

void
conn_discard_input(struct conn *c)
{
	c->in_pos = c->in_len = 0;
	c->discarding = 0;
}

int
conn_flush(struct conn *c, int timeout_ms)
{
	int64_t deadline = conn_deadline(timeout_ms);
	struct conn_sigpipe sp;
	size_t done = 0, wrote;
	ssize_t n;
	int r, err, saved, w;

	while (done < c->out_len) {
		if (c->ssl == NULL) {
			n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);
			if (n >= 0) {
				done += (size_t)n;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_set_error(c, "write: %s", strerror(errno));
				r = errno == EPIPE || errno == ECONNRESET ? CONN_EOF : CONN_ERROR;
				goto fail;
			}
			w = conn_wait(c, POLLOUT, deadline);
		} else {
			ERR_clear_error();
			errno = 0;
			conn_sigpipe_block(&sp);
			r = SSL_write_ex(c->ssl, c->out + done, c->out_len - done, &wrote);
			saved = errno;
			conn_sigpipe_restore(&sp);
			if (r == 1) {
				done += wrote;
				continue;
			}
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_WRITE)
				w = conn_wait(c, POLLOUT, deadline);
			else if (err == SSL_ERROR_WANT_READ)
				w = conn_wait(c, POLLIN, deadline);
			else {
				conn_ssl_failed(c, "TLS write", err, saved);
				c->eof = 1;
				r = err == SSL_ERROR_SYSCALL && (saved == EPIPE ||
				    saved == ECONNRESET) ? CONN_EOF : CONN_ERROR;
				goto fail;
			}
		}
		if (w != 0) {
			r = w;
			goto fail;
		}
	}
	c->out_len = 0;
	return 0;
fail:
	/* Keep what was not written so that a retry resumes in order. */
	memmove(c->out, c->out + done, c->out_len - done);
	c->out_len -= done;
	return r;
}

int
conn_write(struct conn *c, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = conn_deadline(timeout_ms);
	const char *p = buf;
	size_t n;
	int r;

	while (len > 0) {
		if (c->out_len == sizeof c->out &&
		    (r = conn_flush(c, conn_left_ms(deadline))) != 0)
			return r;
		n = sizeof c->out - c->out_len;
		if (n > len)
			n = len;
		memcpy(c->out + c->out_len, p, n);
		c->out_len += n;
		p += n;
		len -= n;
	}
	return 0;
}

int
conn_printf(struct conn *c, int timeout_ms, const char *fmt, ...)
{
	char small[1024], *big = NULL;
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		conn_set_error(c, "bad format");
		return CONN_ERROR;
	}
	if ((size_t)n < sizeof small)
		return conn_write(c, small, (size_t)n, timeout_ms);
	if ((big = malloc((size_t)n + 1)) == NULL) {
		conn_set_error(c, "out of memory");
		return CONN_ERROR;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r = conn_write(c, big, (size_t)n, timeout_ms);
	free(big);
	return r;
}
