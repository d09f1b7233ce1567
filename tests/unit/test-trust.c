/*
 * trust: custom, Mozilla and system stores (and that SSL_CERT_FILE does
 * not leak into "system"), SPKI pins cross-checked with the openssl
 * command, pins enforced on a real handshake, certificate descriptions.
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
#include "trust.h"
#include "test.h"

static char dir[] = "/tmp/popgate-test-trust-XXXXXX";

static char *
path(const char *name)
{
	static char buf[4][300];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static X509 *
make_cert(const char *cn, const char *san, int ca, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY **key_r)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	static long serial = 100;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
	*key_r = key;
	return x;
}

static char *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	char *s;

	PEM_write_bio_X509(b, x);
	BIO_get_mem_ptr(b, &m);
	s = strndup(m->data, m->length);
	BIO_free(b);
	return s;
}

static void
write_file(const char *p, const char *data)
{
	FILE *f = fopen(p, "w");

	fputs(data, f);
	fclose(f);
}

static int
verifies(X509_STORE *store, X509 *leaf)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	return ok;
}

static char *
run(const char *cmd)
{
	static char out[512];
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	out[0] = '\0';
	if (p != NULL) {
		n = fread(out, 1, sizeof out - 1, p);
		pclose(p);
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static X509 *ca, *leaf, *other;
static EVP_PKEY *ca_key, *leaf_key, *other_key;

static void
test_stores(void)
{
	X509_STORE *st;
	char err[512], *ca_pem, *other_pem, both[8192];
	int n, r;

	ca_pem = pem_of(ca);
	other_pem = pem_of(other);
	snprintf(both, sizeof both, "# a comment line\n%s\n%s%s", ca_pem, other_pem, ca_pem);

	CHECK(trust_kind_parse("mozilla") == TRUST_MOZILLA, "kind parse");
	CHECK(trust_kind_parse("nss") == -1, "unknown kind");
	CHECK_STR(trust_kind_name(TRUST_CUSTOM), "custom", "kind name");

	st = trust_store_new(TRUST_CUSTOM, both, strlen(both), NULL, &n, err, sizeof err);
	CHECK(st != NULL && n == 3, "custom store from PEM with a duplicate (%d)", n);
	CHECK(st != NULL && verifies(st, leaf), "custom store trusts a leaf of its CA");
	X509_STORE_free(st);

	st = trust_store_new(TRUST_CUSTOM, other_pem, strlen(other_pem), NULL, &n, err, sizeof err);
	CHECK(st != NULL && !verifies(st, leaf), "a store without the CA does not");
	X509_STORE_free(st);

	st = trust_store_new(TRUST_CUSTOM, "hello", 5, NULL, &n, err, sizeof err);
	CHECK(st == NULL && strstr(err, "no PEM certificate") != NULL, "no certificate: %s", err);
	snprintf(both, sizeof both, "%.*sXXXX%s", (int)(strlen(ca_pem) / 2), ca_pem, ca_pem + strlen(ca_pem) / 2);
	st = trust_store_new(TRUST_CUSTOM, both, strlen(both), NULL, &n, err, sizeof err);
	CHECK(st == NULL, "corrupt PEM refused: %s", err);

	/* Mozilla layout from a folder of .crt files. */
	mkdir(path("moz"), 0755);
	write_file(path("moz/Test_CA.crt"), ca_pem);
	write_file(path("moz/README"), "not a certificate\n");
	st = trust_store_new(TRUST_MOZILLA, NULL, 0, path("moz"), &n, err, sizeof err);
	CHECK(st != NULL && n == 1 && verifies(st, leaf), "mozilla-style folder (%d)", n);
	X509_STORE_free(st);
	st = trust_store_new(TRUST_MOZILLA, NULL, 0, path("nope"), &n, err, sizeof err);
	CHECK(st == NULL && strstr(err, "ca-certificates") != NULL, "missing folder names the package: %s", err);

	if (access(TRUST_MOZILLA_DIR, F_OK) == 0) {
		st = trust_store_new(TRUST_MOZILLA, NULL, 0, NULL, &n, err, sizeof err);
		CHECK(st != NULL && n > 100, "the real Mozilla set: %d certificates", n);
		CHECK(st != NULL && !verifies(st, leaf), "Mozilla set does not trust the test CA");
		X509_STORE_free(st);
	} else
		CHECK(1, "# SKIP %s absent", TRUST_MOZILLA_DIR);

	/* SSL_CERT_FILE must not replace "system"; it does replace OpenSSL's defaults. */
	write_file(path("ca.pem"), ca_pem);
	setenv("SSL_CERT_FILE", path("ca.pem"), 1);
	r = trust_env_override(err, sizeof err);
	CHECK(r == 1 && strstr(err, "SSL_CERT_FILE=") != NULL, "override reported: %s", err);
	st = X509_STORE_new();
	X509_STORE_set_default_paths(st);
	CHECK(verifies(st, leaf), "OpenSSL's default paths follow SSL_CERT_FILE (the trap)");
	X509_STORE_free(st);
	st = trust_store_new(TRUST_SYSTEM, NULL, 0, NULL, &n, err, sizeof err);
	CHECK(st != NULL, "system store loads (%d certificates)", n);
	CHECK(st != NULL && !verifies(st, leaf), "system store ignores SSL_CERT_FILE");
	X509_STORE_free(st);
	unsetenv("SSL_CERT_FILE");
	setenv("SSL_CERT_DIR", path("moz"), 1);
	r = trust_env_override(err, sizeof err);
	CHECK(r == 1 && strstr(err, "SSL_CERT_DIR=") != NULL, "dir override reported");
	unsetenv("SSL_CERT_DIR");
	r = trust_env_override(err, sizeof err);
	CHECK(r == 0, "no override: %s", err);
	free(ca_pem);
	free(other_pem);
}

static void
test_pins(void)
{
	char pin[TRUST_PIN_SIZE], parsed[TRUST_PIN_SIZE], cmd[600], hex[100];
	const char *want;
	unsigned char raw[32];
	int r;

	r = trust_spki_pin(leaf, pin);
	CHECK(r == 0 && strncmp(pin, "sha256/", 7) == 0 && strlen(pin) == 51, "pin format %s", pin);
	{
		char *pem = pem_of(leaf);
		write_file(path("leaf.pem"), pem);
		free(pem);
	}
	snprintf(cmd, sizeof cmd, "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | "
	    "openssl dgst -sha256 -binary | openssl base64", path("leaf.pem"));
	want = run(cmd);
	CHECK(strcmp(pin + 7, want) == 0, "pin matches the openssl command (%s)", want);

	r = trust_pin_parse(pin, parsed);
	CHECK(r == 0 && strcmp(parsed, pin) == 0, "parse sha256/ form");
	snprintf(cmd, sizeof cmd, "  sha256//%s \n", pin + 7);
	r = trust_pin_parse(cmd, parsed);
	CHECK(r == 0 && strcmp(parsed, pin) == 0, "parse curl's sha256// form with spaces");
	/* base64 that itself starts with '/': both spellings must survive */
	r = trust_pin_parse("sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", parsed);
	CHECK(r == 0 && strcmp(parsed, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 0, "a pin whose base64 starts with a slash");
	r = trust_pin_parse("sha256///AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", parsed);
	CHECK(r == 0 && strcmp(parsed, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 0, "the same pin in curl's double-slash form");
	r = trust_pin_parse(pin + 7, parsed);
	CHECK(r == 0 && strcmp(parsed, pin) == 0, "parse bare base64");
	EVP_DecodeBlock(raw, (unsigned char *)pin + 7, 44);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 3 * i, 4, "%02X:", raw[i]);
	hex[95] = '\0';
	r = trust_pin_parse(hex, parsed);
	CHECK(r == 0 && strcmp(parsed, pin) == 0, "parse colon hex");
	CHECK(trust_pin_parse("sha256/short", parsed) == -1, "short pin refused");
	CHECK(trust_pin_parse("zz", parsed) == -1, "junk refused");
	CHECK(trust_pin_parse("sha256/AAAA a", parsed) == -1, "two words refused");
}

struct server_arg {
	int fd;
	SSL_CTX *ctx;
};

static void *
server_main(void *p)
{
	struct server_arg *a = p;
	struct conn *c = conn_new(a->fd);
	char line[64];

	if (conn_tls_accept(c, a->ctx, 2000) == 0)
		conn_read_line(c, line, sizeof line, 2000);
	conn_free(&c);
	return NULL;
}

static void
test_pinned_handshake(void)
{
	struct server_arg sa;
	struct trust_pins tp;
	struct tls_client_opts o;
	struct trust_cert_info info;
	const char *pins[2];
	char leaf_pin[TRUST_PIN_SIZE], ca_pin[TRUST_PIN_SIZE], other_pin[TRUST_PIN_SIZE];
	char err[512], *chain, *ca_pem;
	SSL_CTX *sctx, *cctx;
	X509_STORE *st;
	pthread_t th;
	struct conn *c;
	size_t len;
	int sv[2], r;
	X509 *first;

	sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(sctx, leaf);
	SSL_CTX_use_PrivateKey(sctx, leaf_key);
	SSL_CTX_add1_chain_cert(sctx, ca);
	ca_pem = pem_of(ca);
	st = trust_store_new(TRUST_CUSTOM, ca_pem, strlen(ca_pem), NULL, NULL, err, sizeof err);
	memset(&o, 0, sizeof o);
	o.store = st;
	cctx = tls_client_ctx_new(&o, err, sizeof err);
	CHECK(cctx != NULL, "client context over a custom store");
	trust_spki_pin(leaf, leaf_pin);
	trust_spki_pin(ca, ca_pin);
	trust_spki_pin(other, other_pin);

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	sa.fd = sv[1];
	sa.ctx = sctx;
	pthread_create(&th, NULL, server_main, &sa);
	c = conn_new(sv[0]);
	r = conn_tls_connect(c, cctx, "pop.test", 2000);
	CHECK(r == 0, "handshake verified by the custom store (%s)", r ? conn_error(c) : "");

	tp.pins = pins;
	tp.n = 0;
	CHECK(trust_pins_check(&tp, conn_ssl(c), err, sizeof err) == 0, "no pins: accepted");
	pins[0] = leaf_pin;
	tp.n = 1;
	CHECK(trust_pins_check(&tp, conn_ssl(c), err, sizeof err) == 0, "leaf pin matches");
	pins[0] = other_pin;
	pins[1] = ca_pin;
	tp.n = 2;
	CHECK(trust_pins_check(&tp, conn_ssl(c), err, sizeof err) == 0, "CA pin in the chain matches");
	tp.n = 1;
	r = trust_pins_check(&tp, conn_ssl(c), err, sizeof err);
	CHECK(r == -1 && strstr(err, leaf_pin) != NULL, "wrong pin refused, naming the server key: %s", err);

	chain = trust_peer_chain_pem(conn_ssl(c), &len);
	CHECK(chain != NULL && len == strlen(chain) && strstr(chain, "BEGIN CERTIFICATE") != NULL, "peer chain as PEM");
	first = chain ? trust_pem_first(chain, len) : NULL;
	CHECK(first != NULL && X509_cmp(first, leaf) == 0, "first PEM certificate is the leaf");
	X509_free(first);
	free(chain);
	conn_printf(c, 1000, "bye\r\n");
	conn_flush(c, 1000);
	conn_free(&c);
	pthread_join(th, NULL);

	r = trust_cert_info(leaf, &info);
	CHECK(r == 0, "cert info");
	CHECK(strstr(info.subject, "CN = pop.test") != NULL, "subject: %s", info.subject);
	CHECK(strstr(info.issuer, "CN = popgate test CA") != NULL, "issuer: %s", info.issuer);
	CHECK_STR(info.sans, "DNS:pop.test, IP:127.0.0.1, IP:::1", "SANs");
	CHECK(!info.self_signed && !info.is_ca, "leaf: not self-signed, not a CA");
	CHECK(strcmp(info.pin, leaf_pin) == 0, "info pin");
	CHECK(strlen(info.not_after) == 23 && info.not_after_unix > time(NULL), "not after %s", info.not_after);
	{
		char cmd[400], want[120];
		snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -fingerprint -sha256 | cut -d= -f2", path("leaf.pem"));
		snprintf(want, sizeof want, "%s", run(cmd));
		CHECK_STR(info.sha256, want, "SHA-256 fingerprint matches openssl");
	}
	r = trust_cert_info(ca, &info);
	CHECK(r == 0 && info.self_signed && info.is_ca, "CA: self-signed and a CA");

	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	X509_STORE_free(st);
	free(ca_pem);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL)
		return 1;
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
	ca = make_cert("popgate test CA", NULL, 1, NULL, NULL, &ca_key);
	leaf = make_cert("pop.test", "DNS:pop.test,IP:127.0.0.1,IP:::1", 0, ca, ca_key, &leaf_key);
	other = make_cert("other CA", NULL, 1, NULL, NULL, &other_key);
	test_stores();
	test_pins();
	test_pinned_handshake();
	X509_free(ca);
	X509_free(leaf);
	X509_free(other);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return test_done();
}
