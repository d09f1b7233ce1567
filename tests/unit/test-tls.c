/*
 * tls: version names, the self-signed pair on first start, server context
 * reload, and real handshakes over a socketpair classified the way
 * diagnostics will show them (self-signed, wrong name, expired, version).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "conn.h"
#include "tls.h"
#include "test.h"

static char dir[] = "/tmp/popgate-test-tls-XXXXXX";

static char *
path(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

struct server_arg {
	int fd;
	SSL_CTX *ctx;
	int result;
};

static void *
server_main(void *p)
{
	struct server_arg *a = p;
	struct conn *c = conn_new(a->fd);
	char line[64];

	a->result = conn_tls_accept(c, a->ctx, 2000);
	if (a->result == 0 && conn_read_line(c, line, sizeof line, 2000) >= 0) {
		conn_printf(c, 1000, "+OK %s\r\n", line);
		conn_flush(c, 1000);
	}
	conn_free(&c);
	return NULL;
}

/* One handshake: returns the client's result; *fail_r its classification. */
static int
handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *host, enum tls_failure *fail_r, char *err, size_t errlen)
{
	struct server_arg sa;
	pthread_t th;
	struct conn *c;
	char buf[64];
	int sv[2], r;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	sa.fd = sv[1];
	sa.ctx = sctx;
	sa.result = 0;
	pthread_create(&th, NULL, server_main, &sa);
	c = conn_new(sv[0]);
	r = conn_tls_connect(c, cctx, host, 2000);
	*fail_r = r == 0 ? TLS_FAIL_NONE : tls_classify(conn_ssl_error(c), conn_verify_result(c));
	snprintf(err, errlen, "%s", r == 0 ? "" : conn_error(c));
	if (r == 0) {
		conn_printf(c, 1000, "hi\r\n");
		if (conn_read_line(c, buf, sizeof buf, 2000) < 0 || strcmp(buf, "+OK hi") != 0)
			r = -100;
	}
	conn_free(&c);
	pthread_join(th, NULL);
	return r;
}

static void
test_versions(void)
{
	CHECK(tls_version_parse("1.2") == TLS1_2_VERSION, "parse 1.2");
	CHECK(tls_version_parse("TLSv1.3") == TLS1_3_VERSION, "parse TLSv1.3");
	CHECK(tls_version_parse("tls1.0") == TLS1_VERSION, "parse tls1.0");
	CHECK(tls_version_parse("1.4") == -1, "reject 1.4");
	CHECK_STR(tls_version_name(TLS1_2_VERSION), "TLSv1.2", "name of 1.2");
}

static void
test_selfsigned(void)
{
	char error[512] = "";
	struct stat st;
	X509 *x;
	FILE *f;
	int r;

	r = tls_server_ensure_cert(path("cert.pem"), path("key.pem"), error, sizeof error);
	CHECK(r == 1, "self-signed pair made (%s)", r == -1 ? error : "");
	CHECK(stat(path("key.pem"), &st) == 0 && (st.st_mode & 0777) == 0600, "key is 0600");
	CHECK(access(path("cert.pem.tmp"), F_OK) == -1, "no temp file left");
	r = tls_server_ensure_cert(path("cert.pem"), path("key.pem"), error, sizeof error);
	CHECK(r == 0, "second call keeps the pair");
	r = tls_server_ensure_cert(path("cert.pem"), path("other-key.pem"), error, sizeof error);
	CHECK(r == -1 && strstr(error, "refusing") != NULL, "half a pair is an error: %s", error);

	f = fopen(path("cert.pem"), "r");
	x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	CHECK(x != NULL, "certificate is PEM");
	if (x != NULL) {
		EVP_PKEY *pk = X509_get0_pubkey(x);
		char group[32] = "";
		size_t glen;

		EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, &glen);
		CHECK_STR(group, "prime256v1", "EC P-256 key");
		CHECK(X509_check_host(x, "localhost", 0, 0, NULL) == 1, "SAN localhost");
		CHECK(X509_check_ip_asc(x, "127.0.0.1", 0) == 1, "SAN 127.0.0.1");
		CHECK(X509_check_ip_asc(x, "::1", 0) == 1, "SAN ::1");
		CHECK(X509_cmp_time(X509_get0_notAfter(x), NULL) > 0, "not expired");
		X509_free(x);
	}
}

/* A self-signed certificate valid from 'from' to 'to' seconds from now. */
static void
write_cert(const char *cert_file, const char *key_file, long from, long to)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	FILE *f;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, key, EVP_sha256());
	f = fopen(cert_file, "w");
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key_file, "w");
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
test_handshakes(void)
{
	struct tls_client_opts o;
	enum tls_failure fail;
	char error[512] = "";
	SSL_CTX *sctx, *cctx, *sys, *tmp;
	char err[256];
	int r;

	sctx = tls_server_ctx_new(path("cert.pem"), path("key.pem"), error, sizeof error);
	CHECK(sctx != NULL, "server context from the generated pair");
	memset(&o, 0, sizeof o);
	o.ca_file = path("cert.pem");
	cctx = tls_client_ctx_new(&o, error, sizeof error);
	CHECK(cctx != NULL, "client context with a CA file");
	o.ca_file = NULL;
	sys = tls_client_ctx_new(&o, error, sizeof error);
	CHECK(sys != NULL, "client context with the system store (%s)", sys == NULL ? error : "");

	r = handshake(sctx, cctx, "localhost", &fail, err, sizeof err);
	CHECK(r == 0, "trusted via CA file, name matches (%s)", err);
	r = handshake(sctx, cctx, "127.0.0.1", &fail, err, sizeof err);
	CHECK(r == 0, "IP literal matches the IP SAN (%s)", err);
	r = handshake(sctx, cctx, "pop.example.org", &fail, err, sizeof err);
	CHECK(r != 0 && fail == TLS_FAIL_NAME, "wrong name classified (%d: %s)", fail, err);
	r = handshake(sctx, cctx, "127.0.0.2", &fail, err, sizeof err);
	CHECK(r != 0 && fail == TLS_FAIL_NAME, "wrong IP classified (%d: %s)", fail, err);
	r = handshake(sctx, sys, "localhost", &fail, err, sizeof err);
	CHECK(r != 0 && fail == TLS_FAIL_SELF_SIGNED, "system store: self-signed classified (%d: %s)", fail, err);

	/* Versions: server 1.2 only vs client 1.3 only, and the other way round. */
	SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION);
	o.ca_file = path("cert.pem");
	o.min_version = TLS1_3_VERSION;
	tmp = tls_client_ctx_new(&o, error, sizeof error);
	r = handshake(sctx, tmp, "localhost", &fail, err, sizeof err);
	CHECK(r != 0 && fail == TLS_FAIL_VERSION, "TLS-1.2 server, TLS-1.3 client: version (%d: %s)", fail, err);
	SSL_CTX_free(tmp);
	o.min_version = 0;
	tmp = tls_client_ctx_new(&o, error, sizeof error);
	r = handshake(sctx, tmp, "localhost", &fail, err, sizeof err);
	CHECK(r == 0, "TLS-1.2 server, default client works (%s)", err);
	SSL_CTX_free(tmp);
	SSL_CTX_set_max_proto_version(sctx, TLS1_3_VERSION);
	SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
	o.max_version = TLS1_2_VERSION;
	tmp = tls_client_ctx_new(&o, error, sizeof error);
	r = handshake(sctx, tmp, "localhost", &fail, err, sizeof err);
	CHECK(r != 0 && (fail == TLS_FAIL_VERSION || fail == TLS_FAIL_EOF),
	    "TLS-1.3 server, TLS-1.2 client: version or eof (%d: %s)", fail, err);
	SSL_CTX_free(tmp);
	o.min_version = TLS1_3_VERSION;
	o.max_version = TLS1_2_VERSION;
	tmp = tls_client_ctx_new(&o, error, sizeof error);
	CHECK(tmp == NULL && strstr(error, "above") != NULL, "min above max refused: %s", error);
	o.min_version = o.max_version = 0;
	SSL_CTX_free(sctx);

	/* Expired. */
	write_cert(path("old.pem"), path("old-key.pem"), -7200, -3600);
	sctx = tls_server_ctx_new(path("old.pem"), path("old-key.pem"), error, sizeof error);
	o.ca_file = path("old.pem");
	tmp = tls_client_ctx_new(&o, error, sizeof error);
	r = handshake(sctx, tmp, "localhost", &fail, err, sizeof err);
	CHECK(r != 0 && fail == TLS_FAIL_EXPIRED, "expired classified (%d: %s)", fail, err);
	SSL_CTX_free(tmp);
	SSL_CTX_free(sctx);

	/* A CA file that is not there. */
	o.ca_file = path("missing.pem");
	tmp = tls_client_ctx_new(&o, error, sizeof error);
	CHECK(tmp == NULL && strstr(error, "missing.pem") != NULL, "missing CA file: %s", error);

	SSL_CTX_free(cctx);
	SSL_CTX_free(sys);
}

static void
test_reload(void)
{
	struct tls_server *ts;
	struct tls_client_opts o;
	enum tls_failure fail;
	char error[512] = "";
	SSL_CTX *old, *cur, *cctx;
	char err[256];
	int r;

	write_cert(path("r.pem"), path("r-key.pem"), -60, 3600);
	ts = tls_server_new(path("r.pem"), path("r-key.pem"), error, sizeof error);
	CHECK(ts != NULL, "tls_server_new");
	old = tls_server_ctx(ts);

	write_cert(path("r.pem"), path("r-key.pem"), -60, 3600);
	r = tls_server_reload(ts, error, sizeof error);
	CHECK(r == 0, "reload");
	cur = tls_server_ctx(ts);
	CHECK(cur != old, "reload swapped the context");

	/* The new certificate is served; the old context still works for its holder. */
	memset(&o, 0, sizeof o);
	o.ca_file = path("r.pem");
	cctx = tls_client_ctx_new(&o, error, sizeof error);
	r = handshake(cur, cctx, "localhost", &fail, err, sizeof err);
	CHECK(r == 0, "new certificate served (%s)", err);
	r = handshake(old, cctx, "localhost", &fail, err, sizeof err);
	CHECK(r != 0 && fail == TLS_FAIL_SELF_SIGNED, "old context still serves the old certificate (%s)", err);
	SSL_CTX_free(cctx);

	/* A broken key keeps the running context. */
	FILE *f = fopen(path("r-key.pem"), "w");
	fputs("garbage\n", f);
	fclose(f);
	r = tls_server_reload(ts, error, sizeof error);
	CHECK(r == -1 && strstr(error, "r-key.pem") != NULL, "broken key refused: %s", error);
	SSL_CTX *after = tls_server_ctx(ts);
	CHECK(after == cur, "context unchanged after failed reload");
	SSL_CTX_free(after);
	SSL_CTX_free(cur);
	SSL_CTX_free(old);
	tls_server_free(&ts);
	CHECK(ts == NULL, "tls_server_free sets NULL");
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return 1;
	test_versions();
	test_selfsigned();
	test_handshakes();
	test_reload();
	if (getenv("KEEP") == NULL) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return test_done();
}
