/*
 * tls: client, probe and server contexts; self-signed certificates;
 * reloadable server context; handshake failure classification.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "tls.h"


/* Formats "what: OpenSSL reason" into err. */
static void tls_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
tls_err(char *err, size_t errlen, const char *fmt, ...)
{
	unsigned long e, last = 0, sys = 0;
	const char *reason = NULL;
	char what[300];
	va_list ap;
	int saved = errno;

	/* A system error (no such file...) says more than the layers above it. */
	while ((e = ERR_get_error()) != 0) {
		last = e;
		if (ERR_SYSTEM_ERROR(e) && sys == 0)
			sys = e;
	}
	if (sys != 0)
		last = sys;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (last != 0 && ERR_SYSTEM_ERROR(last))
		reason = strerror(ERR_GET_REASON(last));
	else if (last != 0)
		reason = ERR_reason_error_string(last);
	else if (saved != 0)
		reason = strerror(saved);
	if (reason != NULL)
		snprintf(err, errlen, "%s: %s", what, reason);
	else
		snprintf(err, errlen, "%s", what);
}

int
tls_version_parse(const char *s)
{
	static const struct {
		const char *name;
		int version;
	} names[] = {
		{ "1.0", TLS1_VERSION }, { "1.1", TLS1_1_VERSION },
		{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION },
	};
	size_t i;

	if (strncasecmp(s, "TLSv", 4) == 0)
		s += 4;
	else if (strncasecmp(s, "TLS", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].version;
	return -1;
}

const char *
tls_version_name(int version)
{
	switch (version) {
	case TLS1_VERSION:
		return "TLSv1.0";
	case TLS1_1_VERSION:
		return "TLSv1.1";
	case TLS1_2_VERSION:
		return "TLSv1.2";
	case TLS1_3_VERSION:
		return "TLSv1.3";
	case 0:
		return "any";
	default:
		return "unknown";
	}
}

int
tls_load_system_store(X509_STORE *store, char *err, size_t errlen)
{
	const char *file = X509_get_default_cert_file();
	const char *dir = X509_get_default_cert_dir();
	struct stat st;
	int loaded = 0;

	/*
	 * Not X509_STORE_set_default_paths(): that one follows SSL_CERT_FILE
	 * and SSL_CERT_DIR, and a stray variable must not swap the OS store.
	 */
	ERR_clear_error();
	if (stat(file, &st) == 0 && X509_STORE_load_file(store, file) == 1)
		loaded = 1;
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && X509_STORE_load_path(store, dir) == 1)
		loaded = 1;
	ERR_clear_error();
	if (!loaded) {
		snprintf(err, errlen, "no system trust store at %s or %s", file, dir);
		return -1;
	}
	return 0;
}

static int
tls_set_versions(SSL_CTX *ctx, int min, int max, char *err, size_t errlen)
{
	if (min == 0)
		min = TLS1_2_VERSION;
	if (max == 0)
		max = TLS1_3_VERSION;
	if (min > max) {
		snprintf(err, errlen, "TLS minimum %s is above maximum %s",
		    tls_version_name(min), tls_version_name(max));
		return -1;
	}
	if (min < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);	/* 1.0/1.1 need SHA-1 */
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, max) != 1) {
		tls_err(err, errlen, "cannot set TLS versions");
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_client_ctx_new(const struct tls_client_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	errno = 0;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (tls_set_versions(ctx, o->min_version, o->max_version, err, errlen) == -1)
		goto fail;
	if (o->store != NULL)
		SSL_CTX_set1_cert_store(ctx, o->store);
	else if (o->ca_file != NULL) {
		if (SSL_CTX_load_verify_file(ctx, o->ca_file) != 1) {
			tls_err(err, errlen, "cannot load CA file %s", o->ca_file);
			goto fail;
		}
	} else if (tls_load_system_store(SSL_CTX_get_cert_store(ctx), err, errlen) == -1)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_probe_ctx_new(int min_version, int max_version, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	errno = 0;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_security_level(ctx, 0);
	if (tls_set_versions(ctx, min_version ? min_version : TLS1_VERSION,
	    max_version ? max_version : TLS1_3_VERSION, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *
tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	errno = 0;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (tls_set_versions(ctx, TLS1_2_VERSION, TLS1_3_VERSION, err, errlen) == -1)
		goto fail;
	errno = 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_err(err, errlen, "cannot load certificate %s", cert_file);
		goto fail;
	}
	errno = 0;
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_err(err, errlen, "cannot load key %s", key_file);
		goto fail;
	}
	errno = 0;
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(err, errlen, "key %s does not match the certificate", key_file);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Writes to path.tmp (with mode) then renames, so a crash leaves no half file. */
static int
tls_write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err, size_t errlen)
{
	char tmp[4096];
	FILE *f;
	int fd, ok;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "cannot create %.300s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (key != NULL)
		ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	else
		ok = PEM_write_X509(f, cert) == 1;
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) == -1) {
		snprintf(err, errlen, "cannot write %.300s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
tls_server_ensure_cert(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int have_cert, have_key, r = -1;

	have_cert = access(cert_file, F_OK) == 0;
	have_key = access(key_file, F_OK) == 0;
	if (have_cert && have_key)
		return 0;
	if (have_cert || have_key) {
		snprintf(err, errlen, "%s exists but %s does not: refusing to overwrite",
		    have_cert ? cert_file : key_file, have_cert ? key_file : cert_file);
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL) {
		tls_err(err, errlen, "cannot generate a key");
		goto done;
	}
	if (RAND_bytes(serial, sizeof serial) != 1)
		goto sslfail;
	serial[0] &= 0x7f;
	if ((bn = BN_bin2bn(serial, sizeof serial, NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto sslfail;
	X509_set_version(x, X509_VERSION_3);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 825L * 24 * 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"popgate", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	static const struct {
		int nid;
		const char *value;
	} exts[] = {
		{ NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1" },
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, "serverAuth" },
		{ NID_subject_key_identifier, "hash" },
	};
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value)) == NULL)
			goto sslfail;
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, key, EVP_sha256()) == 0)
		goto sslfail;
	if (tls_write_pem(key_file, 0600, key, NULL, err, errlen) == -1)
		goto done;
	if (tls_write_pem(cert_file, 0644, NULL, x, err, errlen) == -1) {
		unlink(key_file);
		goto done;
	}
	r = 1;
	goto done;
sslfail:
	tls_err(err, errlen, "cannot make a self-signed certificate");
done:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

struct tls_server {
	pthread_mutex_t	 lock;
	SSL_CTX		*ctx;
	char		*cert_file;
	char		*key_file;
};

struct tls_server *
tls_server_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	struct tls_server *ts;

	if ((ts = calloc(1, sizeof *ts)) == NULL ||
	    (ts->cert_file = strdup(cert_file)) == NULL ||
	    (ts->key_file = strdup(key_file)) == NULL) {
		snprintf(err, errlen, "out of memory");
		tls_server_free(&ts);
		return NULL;
	}
	pthread_mutex_init(&ts->lock, NULL);
	if ((ts->ctx = tls_server_ctx_new(cert_file, key_file, err, errlen)) == NULL) {
		tls_server_free(&ts);
		return NULL;
	}
	return ts;
}

SSL_CTX *
tls_server_ctx(struct tls_server *ts)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&ts->lock);
	ctx = ts->ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&ts->lock);
	return ctx;
}

int
tls_server_reload(struct tls_server *ts, char *err, size_t errlen)
{
	SSL_CTX *ctx, *old;

	if ((ctx = tls_server_ctx_new(ts->cert_file, ts->key_file, err, errlen)) == NULL)
		return -1;
	pthread_mutex_lock(&ts->lock);
	old = ts->ctx;
	ts->ctx = ctx;
	pthread_mutex_unlock(&ts->lock);
	SSL_CTX_free(old);	/* sessions holding a reference keep it alive */
	return 0;
}

void
tls_server_free(struct tls_server **tsp)
{
	struct tls_server *ts = *tsp;

	if (ts == NULL)
		return;
	if (ts->cert_file != NULL && ts->key_file != NULL)
		pthread_mutex_destroy(&ts->lock);
	SSL_CTX_free(ts->ctx);
	free(ts->cert_file);
	free(ts->key_file);
	free(ts);
	*tsp = NULL;
}

enum tls_failure
tls_classify(unsigned long ssl_error, long verify_result)
{
	switch (verify_result) {
	case X509_V_OK:
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
	case X509_V_ERR_EMAIL_MISMATCH:
		return TLS_FAIL_NAME;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_FAIL_EXPIRED;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return TLS_FAIL_SELF_SIGNED;
	default:
		return TLS_FAIL_UNTRUSTED;
	}
	if (ssl_error == 0)
		return TLS_FAIL_EOF;
	if (ERR_GET_LIB(ssl_error) != ERR_LIB_SSL)
		return TLS_FAIL_HANDSHAKE;
	switch (ERR_GET_REASON(ssl_error)) {
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
	case SSL_R_WRONG_SSL_VERSION:
		return TLS_FAIL_VERSION;
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return TLS_FAIL_EOF;
	default:
		return TLS_FAIL_HANDSHAKE;
	}
}
