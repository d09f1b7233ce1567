#include "cmd.h"
#include "account-trust.h"
#include "log.h"
#include "net.h"
#include "resolver.h"
#include "store.h"
#include "trust.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define PEMFILE_MAX (1024 * 1024)
#define EXPIRY_WARN_DAYS 30

static const char trust_usage[] =
    "usage: popgate trust fetch -c FILE HOST:PORT [--starttls]\n"
    "       popgate trust add -c FILE STORE PEMFILE\n"
    "       popgate trust list -c FILE [STORE]\n"
    "       popgate trust del -c FILE STORE [SHA256]\n"
    "Trust stores name the certificates an upstream account trusts. \"system\" is\n"
    "OpenSSL's default folder and file (never SSL_CERT_FILE/SSL_CERT_DIR), \"mozilla\"\n"
    "is Mozilla's CA list as ca-certificates ships it; any other name is a custom\n"
    "store whose PEM certificates live in popgate's database.\n"
    "  fetch  shows the chain a server presents (subject, issuer, SANs, SHA-256\n"
    "         fingerprint, SPKI pin, validity) without trusting it; --starttls\n"
    "         sends STLS first (port 110)\n"
    "  add    adds every certificate of PEMFILE to STORE, creating the store\n"
    "  list   lists the stores, or the certificates of one store\n"
    "  del    deletes one certificate (by SHA-256 fingerprint) or a whole store\n"
    "Certificates that expire within 30 days are flagged. Use a store with\n"
    "popgate account set NAME --trust STORE.\n";

int
cmd_trust_expiry(int64_t not_after, char *buf, size_t size)
{
	time_t now = time(NULL);

	buf[0] = '\0';
	if (not_after < now) {
		snprintf(buf, size, "EXPIRED");
		return 2;
	}
	if (not_after - now < (int64_t)EXPIRY_WARN_DAYS * 86400) {
		snprintf(buf, size, "WARNING: expires in %lld days", (long long)((not_after - now) / 86400));
		return 1;
	}
	return 0;
}

void
cmd_trust_print_cert(X509 *x, int index, const char *indent)
{
	struct trust_cert_info ci;
	char warn[64];

	if (trust_cert_info(x, &ci) == -1) {
		printf("%s[%d] (cannot read this certificate)\n", indent, index);
		return;
	}
	printf("%s[%d] subject:     %s\n", indent, index, ci.subject);
	printf("%s    issuer:      %s\n", indent, ci.issuer);
	printf("%s    SANs:        %s\n", indent, ci.sans[0] ? ci.sans : "(none)");
	printf("%s    not before:  %s\n", indent, ci.not_before);
	printf("%s    not after:   %s\n", indent, ci.not_after);
	printf("%s    SHA-256:     %s\n", indent, ci.sha256);
	printf("%s    SPKI pin:    %s\n", indent, ci.pin);
	if (ci.self_signed || ci.is_ca)
		printf("%s    %s%s%s\n", indent, ci.self_signed ? "self-signed" : "",
		    ci.self_signed && ci.is_ca ? ", " : "", ci.is_ca ? "CA certificate" : "");
	if (cmd_trust_expiry(ci.not_after_unix, warn, sizeof(warn)) != 0)
		printf("%s    %s\n", indent, warn);
}

json_t *
cmd_json_str(const char *s)
{
	char safe[1024];
	json_t *j;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	/* Not UTF-8 (remote text, certificate names): shown sanitised. */
	return json_string(log_sanitize(s, strlen(s), sizeof(safe) - 4, safe, sizeof(safe)));
}

json_t *
cmd_trust_cert_json(X509 *x)
{
	struct trust_cert_info ci;
	char warn[64];
	json_t *o;
	int e;

	if (trust_cert_info(x, &ci) == -1)
		return json_pack("{s:s}", "error", "cannot read this certificate");
	e = cmd_trust_expiry(ci.not_after_unix, warn, sizeof(warn));
	o = json_object();
	json_object_set_new(o, "subject", cmd_json_str(ci.subject));
	json_object_set_new(o, "issuer", cmd_json_str(ci.issuer));
	json_object_set_new(o, "sans", cmd_json_str(ci.sans));
	json_object_set_new(o, "not_before", cmd_json_str(ci.not_before));
	json_object_set_new(o, "not_after", cmd_json_str(ci.not_after));
	json_object_set_new(o, "not_after_unix", json_integer((json_int_t)ci.not_after_unix));
	json_object_set_new(o, "sha256", cmd_json_str(ci.sha256));
	json_object_set_new(o, "pin", cmd_json_str(ci.pin));
	json_object_set_new(o, "self_signed", json_boolean(ci.self_signed));
	json_object_set_new(o, "ca", json_boolean(ci.is_ca));
	json_object_set_new(o, "expired", json_boolean(e == 2));
	json_object_set_new(o, "expires_soon", json_boolean(e == 1));
	return o;
}

void
cmd_trust_print_chain(const char *pem, size_t len, const char *indent)
{
	STACK_OF(X509) *sk = account_trust_pem_chain(pem, len);

	if (sk == NULL || sk_X509_num(sk) == 0) {
		printf("%s(no certificate)\n", indent);
	} else {
		for (int i = 0; i < sk_X509_num(sk); i++)
			cmd_trust_print_cert(sk_X509_value(sk, i), i, indent);
	}
	if (sk != NULL)
		sk_X509_pop_free(sk, X509_free);
}

json_t *
cmd_trust_chain_json(const char *pem, size_t len)
{
	STACK_OF(X509) *sk = account_trust_pem_chain(pem, len);
	json_t *arr = json_array();

	for (int i = 0; sk != NULL && i < sk_X509_num(sk); i++)
		json_array_append_new(arr, cmd_trust_cert_json(sk_X509_value(sk, i)));
	if (sk != NULL)
		sk_X509_pop_free(sk, X509_free);
	return arr;
}

int
cmd_use_resolver(const struct config *cf, struct resolver **r_r)
{
	const char *error;

	*r_r = NULL;
	if (cf->dns_mode != DNS_MODE_DOH)
		return 0;
	if (resolver_new(cf, r_r, &error) == -1) {
		fprintf(stderr, "popgate: resolver: %s\n", error);
		return -1;
	}
	net_set_resolver(resolver_addrs_hook, *r_r);
	return 0;
}

void
cmd_drop_resolver(struct resolver **r)
{
	if (*r == NULL)
		return;
	net_set_resolver(NULL, NULL);
	resolver_free(r);
}

static int
trust_fetch(const struct config *cf, const char *hostport, int starttls)
{
	struct account_trust_fetch fx;
	struct resolver *r = NULL;
	char host[256], err[512];
	int port, rc = 1;

	if (net_split_hostport(hostport, host, sizeof(host), &port) == -1 || host[0] == '\0') {
		fprintf(stderr, "popgate: trust fetch needs HOST:PORT, not \"%s\"\n", hostport);
		return 2;
	}
	if (cmd_use_resolver(cf, &r) == -1)
		return 1;
	if (account_trust_fetch(host, port, starttls, cf->sync_timeout * 1000, &fx, err, sizeof(err)) == -1) {
		fprintf(stderr, "popgate: %s\n", err);
		goto out;
	}
	{
		STACK_OF(X509) *sk = account_trust_pem_chain(fx.chain_pem, fx.chain_len);
		int n = sk != NULL ? sk_X509_num(sk) : 0;
		printf("%s:%d%s presents %d certificate%s over %s (%s); nothing was trusted or stored.\n",
		    host, port, starttls ? " (STLS)" : "", n, n == 1 ? "" : "s", fx.version, fx.cipher);
		if (sk != NULL)
			sk_X509_pop_free(sk, X509_free);
	}
	cmd_trust_print_chain(fx.chain_pem, fx.chain_len, "  ");
	printf("To trust the issuer: save its certificate as PEM, then popgate trust add STORE FILE.\n");
	account_trust_fetch_clear(&fx);
	rc = 0;
out:
	cmd_drop_resolver(&r);
	return rc;
}

static char *
read_file(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (fp == NULL) {
		fprintf(stderr, "popgate: cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(PEMFILE_MAX + 1)) == NULL) {
		fclose(fp);
		return NULL;
	}
	n = fread(buf, 1, PEMFILE_MAX + 1, fp);
	fclose(fp);
	if (n > PEMFILE_MAX) {
		fprintf(stderr, "popgate: %s is larger than 1 MB\n", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len_r = n;
	return buf;
}

static int
valid_store_name(const char *name)
{
	if (!cmd_valid_name(name) || strcmp(name, "system") == 0 || strcmp(name, "mozilla") == 0) {
		fprintf(stderr, "popgate: \"%s\" cannot name a custom trust store (letters, digits, . _ - + "
		    "@; not system or mozilla)\n", name);
		return 0;
	}
	return 1;
}

static int
trust_add(struct store *st, const char *name, const char *file)
{
	STACK_OF(X509) *sk;
	char *pem, warn[64];
	const char *error;
	size_t len;
	int existed, added = 0, rc = 1;

	if ((pem = read_file(file, &len)) == NULL)
		return 1;
	sk = account_trust_pem_chain(pem, len);
	free(pem);
	if (sk == NULL || sk_X509_num(sk) == 0) {
		fprintf(stderr, "popgate: %s holds no PEM certificate\n", file);
		goto out;
	}
	if ((existed = store_trust_exists(st, name, &error)) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(sk); i++) {
		X509 *x = sk_X509_value(sk, i);
		struct trust_cert_info ci;
		BIO *bio = BIO_new(BIO_s_mem());
		BUF_MEM *mem;
		char *one;
		int r;

		if (bio == NULL || trust_cert_info(x, &ci) == -1 || PEM_write_bio_X509(bio, x) != 1) {
			BIO_free(bio);
			fprintf(stderr, "popgate: certificate %d of %s cannot be read\n", i, file);
			goto out;
		}
		BIO_get_mem_ptr(bio, &mem);
		one = strndup(mem->data, mem->length);
		BIO_free(bio);
		if (one == NULL)
			goto out;
		r = store_trust_cert_add(st, name, ci.sha256, ci.subject, one, &error);
		free(one);
		if (r == -1) {
			fprintf(stderr, "popgate: %s\n", error);
			goto out;
		}
		printf("%s %s (%s)\n", r == 1 ? "added" : "already in the store:", ci.subject, ci.sha256);
		if (cmd_trust_expiry(ci.not_after_unix, warn, sizeof(warn)) != 0)
			printf("  %s (not after %s)\n", warn, ci.not_after);
		if (!ci.is_ca && !ci.self_signed)
			printf("  note: not a CA certificate: it is trusted only as this exact server certificate\n");
		added += r;
	}
	printf("trust store %s%s: %d certificate%s added\n", name, existed ? "" : " created", added,
	    added == 1 ? "" : "s");
	rc = 0;
out:
	if (sk != NULL)
		sk_X509_pop_free(sk, X509_free);
	return rc;
}

static int
print_store(const char *name, int certs, int accounts, void *ctx)
{
	(void)ctx;
	printf("%-16s custom   %d certificate%s, used by %d account%s\n", name, certs, certs == 1 ? "" : "s",
	    accounts, accounts == 1 ? "" : "s");
	return 0;
}

static int
print_stored_cert(const struct store_trust_cert *c, void *ctx)
{
	X509 *x = trust_pem_first(c->pem, strlen(c->pem));
	int *index = ctx;

	if (x == NULL) {
		printf("  [%d] %s (%s): unreadable\n", *index, c->subject, c->sha256);
	} else {
		cmd_trust_print_cert(x, *index, "  ");
		X509_free(x);
	}
	(*index)++;
	return 0;
}

static int
count_mozilla(void)
{
	DIR *d = opendir(TRUST_MOZILLA_DIR);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".crt") == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
print_system(void)
{
	char msg[512];
	int over = trust_env_override(msg, sizeof(msg));

	printf("%-16s built-in %s and %s\n", "system", X509_get_default_cert_file(), X509_get_default_cert_dir());
	if (over)
		printf("  WARNING: %s\n", msg);
}

static int
trust_list(struct store *st, const char *name)
{
	const char *error;
	int r, index = 0, n;

	if (name == NULL) {
		print_system();
		n = count_mozilla();
		printf("%-16s built-in %s (%d certificates)\n", "mozilla", TRUST_MOZILLA_DIR, n < 0 ? 0 : n);
		if (store_trust_store_foreach(st, print_store, NULL, &error) == -1) {
			fprintf(stderr, "popgate: %s\n", error);
			return 1;
		}
		return 0;
	}
	if (strcmp(name, "system") == 0) {
		print_system();
		return 0;
	}
	if (strcmp(name, "mozilla") == 0) {
		n = count_mozilla();
		printf("%-16s built-in %s (%d certificates)\n", "mozilla", TRUST_MOZILLA_DIR, n < 0 ? 0 : n);
		return 0;
	}
	if ((r = store_trust_exists(st, name, &error)) != 1) {
		fprintf(stderr, "popgate: %s\n", r == 0 ? "no such trust store" : error);
		return 1;
	}
	printf("trust store %s:\n", name);
	if (store_trust_cert_foreach(st, name, print_stored_cert, &index, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		return 1;
	}
	if (index == 0)
		printf("  (empty)\n");
	return 0;
}

/* "ab:cd..." or "abcd..." (64 hex digits) -> "AB:CD:...". */
static int
normalise_sha256(const char *in, char out[96])
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n == 64)
			return -1;
		if (n > 0 && n % 2 == 0)
			*out++ = ':';
		*out++ = (char)toupper((unsigned char)*in);
		n++;
	}
	*out = '\0';
	return n == 64 ? 0 : -1;
}

static int
trust_del(struct store *st, const char *name, const char *sha)
{
	char fp[96];
	const char *error;
	int r;

	if (sha != NULL && normalise_sha256(sha, fp) == -1) {
		fprintf(stderr, "popgate: \"%s\" is not a SHA-256 fingerprint (64 hex digits)\n", sha);
		return 2;
	}
	if ((r = store_trust_del(st, name, sha ? fp : NULL, &error)) != 1) {
		fprintf(stderr, "popgate: %s\n", r == 0 ? (sha ? "no such certificate in that store" :
		    "no such trust store") : error);
		return 1;
	}
	if (sha != NULL)
		printf("certificate %s deleted from trust store %s\n", fp, name);
	else
		printf("trust store %s deleted\n", name);
	return 0;
}

int
cmd_trust(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "starttls", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *verb;
	struct config *cf = NULL;
	struct store *st = NULL;
	int ch, starttls = 0, rc = 1, nargs;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 's': starttls = 1; break;
		case 'h': fputs(trust_usage, stdout); return 0;
		default: fputs(trust_usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(trust_usage, stderr);
		return 2;
	}
	verb = argv[optind++];
	nargs = argc - optind;
	if ((strcmp(verb, "fetch") == 0 && nargs != 1) || (strcmp(verb, "add") == 0 && nargs != 2) ||
	    (strcmp(verb, "list") == 0 && nargs > 1) || (strcmp(verb, "del") == 0 && (nargs < 1 || nargs > 2))) {
		fprintf(stderr, "popgate: wrong arguments for trust %s\n%s", verb, trust_usage);
		return 2;
	}
	if (strcmp(verb, "fetch") && strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "del")) {
		fprintf(stderr, "popgate: unknown trust command \"%s\"\n%s", verb, trust_usage);
		return 2;
	}
	if ((strcmp(verb, "add") == 0 || strcmp(verb, "del") == 0) && !valid_store_name(argv[optind]))
		return 2;
	if ((cf = cmd_load_config(path)) == NULL)
		return 1;
	if (strcmp(verb, "fetch") == 0) {
		rc = trust_fetch(cf, argv[optind], starttls);
		goto out;
	}
	if ((st = cmd_open_store(cf)) == NULL)
		goto out;
	if (strcmp(verb, "add") == 0)
		rc = trust_add(st, argv[optind], argv[optind + 1]);
	else if (strcmp(verb, "list") == 0)
		rc = trust_list(st, nargs ? argv[optind] : NULL);
	else
		rc = trust_del(st, argv[optind], nargs == 2 ? argv[optind + 1] : NULL);
out:
	store_close(&st);
	config_free(&cf);
	return rc;
}
