/*
 * trust: stores, pins, certificate descriptions, environment overrides.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "trust.h"

#define TRUST_FILE_MAX	(4 * 1024 * 1024)	/* one .crt file */

static const char *const kind_names[] = {
	[TRUST_SYSTEM] = "system",
	[TRUST_MOZILLA] = "mozilla",
	[TRUST_CUSTOM] = "custom",
};

int
trust_kind_parse(const char *name)
{
	for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
		if (strcmp(name, kind_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
trust_kind_name(enum trust_kind kind)
{
	if ((unsigned)kind >= sizeof kind_names / sizeof kind_names[0])
		return "unknown";
	return kind_names[kind];
}

int
trust_store_add_pem(X509_STORE *store, const char *pem, size_t len, char *err, size_t errlen)
{
	BIO *bio;
	X509 *x;
	unsigned long e;
	int n = 0;

	ERR_clear_error();
	if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		snprintf(err, errlen, "PEM too large");
		return -1;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		/* A certificate listed twice is no error. */
		if (X509_STORE_add_cert(store, x) != 1) {
			e = ERR_peek_last_error();
			if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
				X509_free(x);
				BIO_free(bio);
				snprintf(err, errlen, "cannot add certificate %d: %s", n + 1,
				    ERR_reason_error_string(e));
				return -1;
			}
		}
		X509_free(x);
		n++;
	}
	e = ERR_peek_last_error();
	BIO_free(bio);
	if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		snprintf(err, errlen, "bad PEM after %d certificate%s: %s", n, n == 1 ? "" : "s",
		    ERR_reason_error_string(e));
		ERR_clear_error();
		return -1;
	}
	ERR_clear_error();
	if (n == 0) {
		snprintf(err, errlen, "no PEM certificate found");
		return -1;
	}
	return n;
}

static char *
read_file(const char *path, size_t *len_r, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	long len;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > TRUST_FILE_MAX ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)len + 1)) == NULL) {
		snprintf(err, errlen, "%s: cannot read (or larger than %d bytes)", path, TRUST_FILE_MAX);
		fclose(f);
		return NULL;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		snprintf(err, errlen, "%s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	*len_r = (size_t)len;
	return buf;
}

static int
load_mozilla(X509_STORE *store, const char *dir, char *err, size_t errlen)
{
	struct dirent *de;
	char path[4096], *pem;
	size_t len, nl;
	DIR *d;
	int n = 0, r;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "%s: %s (install the ca-certificates package)", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".crt") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if ((pem = read_file(path, &len, err, errlen)) == NULL)
			goto fail;
		r = trust_store_add_pem(store, pem, len, err, errlen);
		free(pem);
		if (r == -1)
			goto fail;
		n += r;
	}
	closedir(d);
	if (n == 0) {
		snprintf(err, errlen, "%s holds no certificates", dir);
		return -1;
	}
	return n;
fail:
	closedir(d);
	return -1;
}

X509_STORE *
trust_store_new(enum trust_kind kind, const char *pem, size_t len, const char *dir,
    int *count_r, char *err, size_t errlen)
{
	X509_STORE *store;
	int n = -1;

	if ((store = X509_STORE_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	switch (kind) {
	case TRUST_SYSTEM:
		if (tls_load_system_store(store, err, errlen) == -1)
			goto fail;
		n = sk_X509_OBJECT_num(X509_STORE_get0_objects(store));
		if (n <= 0)
			n = -1;		/* only the hashed folder: loaded on demand */
		break;
	case TRUST_MOZILLA:
		if ((n = load_mozilla(store, dir != NULL ? dir : TRUST_MOZILLA_DIR, err, errlen)) == -1)
			goto fail;
		break;
	case TRUST_CUSTOM:
		if (pem == NULL || (n = trust_store_add_pem(store, pem, len, err, errlen)) == -1) {
			if (pem == NULL)
				snprintf(err, errlen, "a custom store needs certificates");
			goto fail;
		}
		break;
	default:
		snprintf(err, errlen, "unknown trust store kind %d", (int)kind);
		goto fail;
	}
	if (count_r != NULL)
		*count_r = n;
	return store;
fail:
	X509_STORE_free(store);
	return NULL;
}

int
trust_spki_pin(X509 *cert, char pin[TRUST_PIN_SIZE])
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int len;

	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der)) <= 0)
		return -1;
	if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		OPENSSL_free(der);
		return -1;
	}
	OPENSSL_free(der);
	memcpy(pin, "sha256/", 7);
	EVP_EncodeBlock((unsigned char *)pin + 7, md, 32);	/* 44 chars and a NUL */
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
trust_pin_parse(const char *in, char pin[TRUST_PIN_SIZE])
{
	unsigned char raw[48];
	size_t len, n = 0;
	int hi, lo;

	while (isspace((unsigned char)*in))
		in++;
	if (strncasecmp(in, "sha256/", 7) == 0)
		in += 7;
	len = strcspn(in, " \t\r\n");
	/*
	 * curl writes "sha256//BASE64"; but base64 may itself start with '/',
	 * so the second slash is a separator only when 44 characters follow it.
	 */
	if (len == 45 && in[0] == '/') {
		in++;
		len--;
	}
	if (in[len] != '\0' && in[len + strspn(in + len, " \t\r\n")] != '\0')
		return -1;
	if (len == 44 && in[43] == '=') {
		/* base64 of 32 bytes: decode to check, then re-encode. */
		if (EVP_DecodeBlock(raw, (const unsigned char *)in, 44) != 33)
			return -1;
	} else {
		/* hex, with or without colons */
		for (size_t i = 0; i < len; ) {
			if (in[i] == ':') {
				i++;
				continue;
			}
			if (i + 1 >= len || (hi = hexval(in[i])) < 0 || (lo = hexval(in[i + 1])) < 0 || n == 32)
				return -1;
			raw[n++] = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (n != 32)
			return -1;
	}
	memcpy(pin, "sha256/", 7);
	EVP_EncodeBlock((unsigned char *)pin + 7, raw, 32);
	return 0;
}

int
trust_pins_check(void *arg, SSL *ssl, char *err, size_t errlen)
{
	const struct trust_pins *tp = arg;
	STACK_OF(X509) *chain;
	char pin[TRUST_PIN_SIZE], leaf[TRUST_PIN_SIZE] = "";
	int i, n;

	if (tp == NULL || tp->n == 0)
		return 0;
	if ((chain = SSL_get0_verified_chain(ssl)) == NULL || (n = sk_X509_num(chain)) == 0) {
		snprintf(err, errlen, "no verified certificate chain to check pins against");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (trust_spki_pin(sk_X509_value(chain, i), pin) == -1)
			continue;
		if (i == 0)
			memcpy(leaf, pin, sizeof leaf);
		for (size_t k = 0; k < tp->n; k++)
			if (strcmp(pin, tp->pins[k]) == 0)
				return 0;
	}
	snprintf(err, errlen, "no certificate in the chain matches the %zu pinned key%s (server key %s)",
	    tp->n, tp->n == 1 ? "" : "s", leaf);
	return -1;
}

static void
name_str(X509_NAME *name, char *buf, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (bio == NULL)
		return;
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_read(bio, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
}

static void
time_str(const ASN1_TIME *t, char *buf, size_t size, int64_t *unix_r)
{
	struct tm tm;

	buf[0] = '\0';
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return;
	strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (unix_r != NULL)
		*unix_r = (int64_t)timegm(&tm);
}

static void
sans_str(X509 *cert, char *buf, size_t size)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t used = 0;
	char ip[64];
	int i;

	buf[0] = '\0';
	for (i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const char *prefix = NULL;
		char val[256] = "";

		if (g->type == GEN_DNS) {
			prefix = "DNS";
			snprintf(val, sizeof val, "%.*s", ASN1_STRING_length(g->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
			int len = ASN1_STRING_length(g->d.iPAddress);

			prefix = "IP";
			if (len == 4 && inet_ntop(AF_INET, a, ip, sizeof ip) != NULL)
				snprintf(val, sizeof val, "%s", ip);
			else if (len == 16 && inet_ntop(AF_INET6, a, ip, sizeof ip) != NULL)
				snprintf(val, sizeof val, "%s", ip);
		}
		if (prefix == NULL || val[0] == '\0')
			continue;
		for (char *p = val; *p; p++)
			if (*p < 0x21 || *p > 0x7e)
				*p = '?';
		if (used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s:%s", used ? ", " : "", prefix, val);
	}
	GENERAL_NAMES_free(names);
}

int
trust_cert_info(X509 *cert, struct trust_cert_info *info)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memset(info, 0, sizeof *info);
	name_str(X509_get_subject_name(cert), info->subject, sizeof info->subject);
	name_str(X509_get_issuer_name(cert), info->issuer, sizeof info->issuer);
	time_str(X509_get0_notBefore(cert), info->not_before, sizeof info->not_before, NULL);
	time_str(X509_get0_notAfter(cert), info->not_after, sizeof info->not_after, &info->not_after_unix);
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1)
		return -1;
	for (unsigned i = 0; i < mdlen && 3 * i + 3 <= sizeof info->sha256; i++)
		snprintf(info->sha256 + 3 * i, 4, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
	if (trust_spki_pin(cert, info->pin) == -1)
		return -1;
	sans_str(cert, info->sans, sizeof info->sans);
	info->self_signed = (X509_get_extension_flags(cert) & EXFLAG_SS) != 0;
	info->is_ca = X509_check_ca(cert) > 0;
	return 0;
}

char *
trust_peer_chain_pem(SSL *ssl, size_t *len_r)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	BIO *bio;
	BUF_MEM *mem;
	char *out = NULL;
	int i;

	if (chain == NULL || (bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(chain); i++)
		if (PEM_write_bio_X509(bio, sk_X509_value(chain, i)) != 1)
			goto done;
	BIO_get_mem_ptr(bio, &mem);
	if ((out = malloc(mem->length + 1)) != NULL) {
		memcpy(out, mem->data, mem->length);
		out[mem->length] = '\0';
		if (len_r != NULL)
			*len_r = mem->length;
	}
done:
	BIO_free(bio);
	return out;
}

X509 *
trust_pem_first(const char *pem, size_t len)
{
	BIO *bio;
	X509 *x;

	if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return x;
}

int
trust_env_override(char *msg, size_t msglen)
{
	const char *fvar = X509_get_default_cert_file_env();
	const char *dvar = X509_get_default_cert_dir_env();
	const char *f = getenv(fvar), *d = getenv(dvar);

	if ((f == NULL || *f == '\0') && (d == NULL || *d == '\0')) {
		snprintf(msg, msglen, "%s and %s are not set: OpenSSL's default trust is %s and %s",
		    fvar, dvar, X509_get_default_cert_file(), X509_get_default_cert_dir());
		return 0;
	}
	if (f != NULL && *f != '\0' && d != NULL && *d != '\0')
		snprintf(msg, msglen, "%s=%s and %s=%s are set: programs that use OpenSSL's default "
		    "trust see those instead of %s and %s; popgate's \"system\" store ignores them",
		    fvar, f, dvar, d, X509_get_default_cert_file(), X509_get_default_cert_dir());
	else if (f != NULL && *f != '\0')
		snprintf(msg, msglen, "%s=%s is set: programs that use OpenSSL's default trust see "
		    "that file instead of %s; popgate's \"system\" store ignores it",
		    fvar, f, X509_get_default_cert_file());
	else
		snprintf(msg, msglen, "%s=%s is set: programs that use OpenSSL's default trust see "
		    "that folder instead of %s; popgate's \"system\" store ignores it",
		    dvar, d, X509_get_default_cert_dir());
	return 1;
}
