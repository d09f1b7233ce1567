/*
 * conn over a socketpair: line splitting, CRLF and bare LF, too-long
 * lines, timeouts, EOF, bounded output, and a TLS handshake with a
 * certificate made on the spot.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "conn.h"
#include "test.h"

static void
put(int fd, const char *s)
{
	size_t len = strlen(s);

	if (write(fd, s, len) != (ssize_t)len)
		abort();
}

static struct conn *
pair(int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	*peer = sv[1];
	return conn_new(sv[0]);
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
test_lines(void)
{
	struct conn *c;
	char buf[64];
	ssize_t n;
	int peer;

	c = pair(&peer);
	put(peer, "+OK hello\r\nbare lf\n\r\nmid\rcr\r\n");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK(n == 9, "CRLF line length");
	CHECK_STR(buf, "+OK hello", "CRLF line text");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK_STR(buf, "bare lf", "bare LF line");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK(n == 0 && buf[0] == '\0', "empty CRLF line");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK_STR(buf, "mid\rcr", "a CR inside a line is data");
	CHECK(!conn_has_input(c), "nothing left buffered");

	/* A line split across writes, with CR and LF in separate writes. */
	put(peer, "spl");
	n = conn_read_line(c, buf, sizeof buf, 50);
	CHECK(n == CONN_TIMEOUT, "half a line times out");
	put(peer, "it\r");
	n = conn_read_line(c, buf, sizeof buf, 50);
	CHECK(n == CONN_TIMEOUT, "still no LF: timeout");
	put(peer, "\nnext\r\n");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK_STR(buf, "split", "split line reassembled after timeouts");
	CHECK(conn_has_input(c), "pipelined line buffered");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK_STR(buf, "next", "pipelined line");

	/* Exactly fitting and one byte too long. */
	put(peer, "1234567\r\n12345678\r\nafter\r\n");
	n = conn_read_line(c, buf, 8, 1000);
	CHECK(n == 7 && strcmp(buf, "1234567") == 0, "line of size-1 fits");
	n = conn_read_line(c, buf, 8, 1000);
	CHECK(n == CONN_TOOLONG, "line of size bytes is too long");
	n = conn_read_line(c, buf, 8, 1000);
	CHECK_STR(buf, "after", "reading resumes after a too-long line");

	conn_free(&c);
	CHECK(c == NULL, "conn_free sets NULL");
	close(peer);
}

static void
test_long_lines(void)
{
	struct conn *c;
	char buf[512], *big;
	ssize_t n;
	int peer, eol;
	size_t total;

	/* 100 KB without LF, sent while we read: discarded, then the next line works. */
	c = pair(&peer);
	big = malloc(100001);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	pid_t pid = fork();
	if (pid == 0) {
		put(peer, big);
		put(peer, "\r\nok\r\n");
		_exit(0);
	}
	n = conn_read_line(c, buf, sizeof buf, 5000);
	CHECK(n == CONN_TOOLONG, "100 KB line is too long");
	n = conn_read_line(c, buf, sizeof buf, 5000);
	CHECK_STR(buf, "ok", "line after 100 KB line");
	waitpid(pid, NULL, 0);

	/* The same line read in parts. */
	pid = fork();
	if (pid == 0) {
		put(peer, big);
		put(peer, "\r\n.\r\n");
		_exit(0);
	}
	total = 0;
	do {
		n = conn_read_line_part(c, buf, sizeof buf, &eol, 5000);
		if (n < 0)
			break;
		total += (size_t)n;
	} while (!eol);
	CHECK(total == 100000, "read_line_part returns the whole line (%zu)", total);
	n = conn_read_line_part(c, buf, sizeof buf, &eol, 5000);
	CHECK(n == 1 && eol && buf[0] == '.', "next part is the next line");
	waitpid(pid, NULL, 0);

	/* A too-long line that arrives slower than the deadline stays discarded. */
	put(peer, big + 100000 - 20000);
	n = conn_read_line(c, buf, sizeof buf, 50);
	CHECK(n == CONN_TIMEOUT, "timeout in the middle of a long line");
	put(peer, "tail\r\nfine\r\n");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK(n == CONN_TOOLONG, "long line still reported too long after timeout");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK_STR(buf, "fine", "and the next line is intact");
	free(big);
	conn_free(&c);
	close(peer);
}

static void
test_timeout_eof(void)
{
	struct timespec t0;
	struct conn *c;
	char buf[64];
	ssize_t n;
	long ms;
	int peer, r;

	c = pair(&peer);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = conn_read_line(c, buf, sizeof buf, 200);
	ms = elapsed_ms(&t0);
	CHECK(n == CONN_TIMEOUT, "read times out");
	CHECK(ms >= 190 && ms < 1000, "after about 200 ms (%ld)", ms);

	put(peer, "last\r\nunterminated");
	close(peer);
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK_STR(buf, "last", "line before EOF");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK(n == CONN_EOF, "unterminated tail then EOF");
	n = conn_read_line(c, buf, sizeof buf, 1000);
	CHECK(n == CONN_EOF, "EOF again");
	conn_free(&c);

	/* read_exact */
	c = pair(&peer);
	put(peer, "abcdef");
	r = conn_read_exact(c, buf, 4, 1000);
	CHECK(r == 0 && memcmp(buf, "abcd", 4) == 0, "read_exact");
	close(peer);
	r = conn_read_exact(c, buf, 4, 1000);
	CHECK(r == CONN_EOF, "read_exact short then EOF");
	conn_free(&c);
}

static void
test_output(void)
{
	struct timespec t0;
	struct conn *c;
	char buf[4096];
	int peer, r, i;
	ssize_t n;
	long ms;

	c = pair(&peer);
	r = conn_printf(c, 1000, "+OK %d %s\r\n", 3, "msgs");
	CHECK(r == 0, "printf buffered");
	r = conn_flush(c, 1000);
	CHECK(r == 0, "flush");
	n = read(peer, buf, sizeof buf);
	CHECK(n == 12 && memcmp(buf, "+OK 3 msgs\r\n", 12) == 0, "peer got the printf");

	/* Nobody reads: the output buffer is bounded, so writing blocks and times out. */
	memset(buf, 'a', sizeof buf);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = 0;
	for (i = 0; i < 100000 && r == 0; i++)
		r = conn_write(c, buf, sizeof buf, 100);
	ms = elapsed_ms(&t0);
	CHECK(r == CONN_TIMEOUT, "write to a stuck peer times out");
	CHECK(i < 1000, "after a bounded amount of buffering (%d x 4 KiB)", i);
	CHECK(ms < 2000, "promptly (%ld ms)", ms);
	conn_free(&c);

	c = pair(&peer);
	close(peer);
	r = conn_write(c, "x", 1, 1000);
	if (r == 0)
		r = conn_flush(c, 1000);
	CHECK(r == CONN_EOF || r == CONN_ERROR, "write to a closed peer fails (%d)", r);
	conn_free(&c);
}

/* TLS */

static void
make_cert(EVP_PKEY **key_r, X509 **cert_r)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, key, EVP_sha256());
	*key_r = key;
	*cert_r = x;
}

struct server_arg {
	int fd;
	SSL_CTX *ctx;
	int result;
	char line[64];
};

static void *
server_main(void *p)
{
	struct server_arg *a = p;
	struct conn *c = conn_new(a->fd);
	ssize_t n;

	conn_printf(c, 1000, "+OK ready\r\n");
	conn_flush(c, 1000);
	n = conn_read_line(c, a->line, sizeof a->line, 2000);
	if (n < 0 || strcmp(a->line, "STLS") != 0) {
		a->result = -10;
		conn_free(&c);
		return NULL;
	}
	conn_printf(c, 1000, "+OK begin\r\n");
	conn_discard_input(c);
	a->result = conn_tls_accept(c, a->ctx, 2000);
	if (a->result == 0) {
		n = conn_read_line(c, a->line, sizeof a->line, 2000);
		if (n < 0)
			a->result = (int)n;
		else
			conn_printf(c, 1000, "+OK got %s\r\n", a->line);
		conn_flush(c, 1000);
	}
	conn_free(&c);
	return NULL;
}

static void
test_tls(void)
{
	struct server_arg sa;
	SSL_CTX *sctx, *cctx;
	pthread_t th;
	EVP_PKEY *key;
	X509 *cert;
	struct conn *c;
	char buf[128];
	int sv[2], r;

	make_cert(&key, &cert);
	sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(sctx, cert);
	SSL_CTX_use_PrivateKey(sctx, key);
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), cert);
	SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);

	/* STLS, the name matches, then a line each way under TLS. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	memset(&sa, 0, sizeof sa);
	sa.fd = sv[1];
	sa.ctx = sctx;
	pthread_create(&th, NULL, server_main, &sa);
	c = conn_new(sv[0]);
	conn_read_line(c, buf, sizeof buf, 2000);
	CHECK_STR(buf, "+OK ready", "plaintext greeting");
	conn_printf(c, 1000, "STLS\r\n");
	conn_read_line(c, buf, sizeof buf, 2000);
	CHECK_STR(buf, "+OK begin", "STLS accepted");
	CHECK(conn_ssl(c) == NULL, "no SSL before handshake");
	r = conn_tls_connect(c, cctx, "localhost", 2000);
	CHECK(r == 0, "TLS handshake (%s)", r == 0 ? "ok" : conn_error(c));
	CHECK(conn_ssl(c) != NULL, "SSL after handshake");
	CHECK(conn_verify_result(c) == X509_V_OK, "certificate verified");
	conn_printf(c, 1000, "CAPA\r\n");
	conn_flush(c, 1000);
	conn_read_line(c, buf, sizeof buf, 2000);
	CHECK_STR(buf, "+OK got CAPA", "line round trip under TLS");
	pthread_join(th, NULL);
	CHECK(sa.result == 0, "server side handshake ok (%d)", sa.result);
	r = (int)conn_read_line(c, buf, sizeof buf, 2000);
	CHECK(r == CONN_EOF, "EOF after server closes");
	conn_free(&c);

	/* IP literal matching the IP SAN. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	memset(&sa, 0, sizeof sa);
	sa.fd = sv[1];
	sa.ctx = sctx;
	pthread_create(&th, NULL, server_main, &sa);
	c = conn_new(sv[0]);
	conn_read_line(c, buf, sizeof buf, 2000);
	conn_printf(c, 1000, "STLS\r\n");
	conn_read_line(c, buf, sizeof buf, 2000);
	r = conn_tls_connect(c, cctx, "127.0.0.1", 2000);
	CHECK(r == 0, "TLS to IP literal in SAN (%s)", r == 0 ? "ok" : conn_error(c));
	conn_printf(c, 1000, "X\r\n");
	conn_flush(c, 1000);
	conn_read_line(c, buf, sizeof buf, 2000);
	pthread_join(th, NULL);
	conn_free(&c);

	/* Wrong name: handshake fails with a verify result to explain it. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	memset(&sa, 0, sizeof sa);
	sa.fd = sv[1];
	sa.ctx = sctx;
	pthread_create(&th, NULL, server_main, &sa);
	c = conn_new(sv[0]);
	conn_read_line(c, buf, sizeof buf, 2000);
	conn_printf(c, 1000, "STLS\r\n");
	conn_read_line(c, buf, sizeof buf, 2000);
	r = conn_tls_connect(c, cctx, "pop.example.org", 2000);
	CHECK(r == CONN_ERROR, "wrong host name fails the handshake");
	CHECK(conn_verify_result(c) == X509_V_ERR_HOSTNAME_MISMATCH, "verify result says hostname mismatch (%ld)",
	    conn_verify_result(c));
	CHECK(strstr(conn_error(c), "hostname mismatch") != NULL, "error text: %s", conn_error(c));
	conn_free(&c);
	pthread_join(th, NULL);

	/* A peer that never speaks TLS: the handshake times out. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	c = conn_new(sv[0]);
	r = conn_tls_connect(c, cctx, "localhost", 150);
	CHECK(r == CONN_TIMEOUT, "silent peer: handshake times out");
	conn_free(&c);
	close(sv[1]);

	/* A peer that closes mid-handshake: an error, with OpenSSL's reason. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	close(sv[1]);
	c = conn_new(sv[0]);
	r = conn_tls_connect(c, cctx, "localhost", 1000);
	CHECK(r == CONN_ERROR, "closed peer: handshake error (%s)", conn_error(c));
	conn_free(&c);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void *
accept_then_close(void *p)
{
	struct server_arg *a = p;
	struct conn *c = conn_new(a->fd);

	a->result = conn_tls_accept(c, a->ctx, 2000);
	conn_free(&c);
	return NULL;
}

/* With SIGPIPE at its default (a CLI command), writing to a gone peer must not kill us. */
static void
test_sigpipe(void)
{
	EVP_PKEY *key;
	X509 *cert;
	SSL_CTX *sctx, *cctx;
	int status = -1;
	pid_t pid;

	make_cert(&key, &cert);
	sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(sctx, cert);
	SSL_CTX_use_PrivateKey(sctx, key);
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	if ((pid = fork()) == 0) {
		struct server_arg sa;
		struct conn *c;
		pthread_t th;
		char buf[4096];
		int sv[2], r = 0, i;

		signal(SIGPIPE, SIG_DFL);
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		sa.fd = sv[1];
		sa.ctx = sctx;
		pthread_create(&th, NULL, accept_then_close, &sa);
		c = conn_new(sv[0]);
		if (conn_tls_connect(c, cctx, "localhost", 2000) != 0)
			_exit(3);
		pthread_join(th, NULL);
		memset(buf, 'x', sizeof buf);
		for (i = 0; i < 1000 && r == 0; i++)
			if ((r = conn_write(c, buf, sizeof buf, 1000)) == 0)
				r = conn_flush(c, 1000);
		conn_free(&c);
		_exit(r == CONN_EOF || r == CONN_ERROR ? 0 : 4);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "TLS write to a closed peer returns an error instead of dying of SIGPIPE (%s %d)",
	    WIFSIGNALED(status) ? "signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(cert);
	EVP_PKEY_free(key);
}

int
main(void)
{
	test_sigpipe();
	signal(SIGPIPE, SIG_IGN);
	test_lines();
	test_long_lines();
	test_timeout_eof();
	test_output();
	test_tls();
	return test_done();
}
