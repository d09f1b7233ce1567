/* store-trust: custom trust stores, their certificates, and account trust settings. */
#include "account-trust.h"
#include "store.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A self-signed certificate made here, as PEM (malloc'd). */
static char *
make_cert(const char *cn, long days)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem;
	char *out;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(bio, x);
	BIO_get_mem_ptr(bio, &mem);
	out = strndup(mem->data, mem->length);
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(key);
	return out;
}

static int
count_store(const char *name, int certs, int accounts, void *ctx)
{
	char *buf = ctx;

	snprintf(buf + strlen(buf), 256 - strlen(buf), "%s:%d:%d;", name, certs, accounts);
	return 0;
}

static int
count_cert(const struct store_trust_cert *c, void *ctx)
{
	(*(int *)ctx)++;
	return c->pem[0] == '-' ? 0 : -1;
}

int
main(void)
{
	char dir[] = "/tmp/popgate-test-trust-store.XXXXXX", path[256], stores[256] = "", desc[256];
	struct store *st = NULL;
	struct store_account a;
	struct store_account_trust t;
	struct account_trust at;
	struct pop3c_params p;
	struct trust_cert_info ci;
	const char *error = NULL;
	char *pem1 = make_cert("one.test", 365), *pem2 = make_cert("two.test", 10), *all;
	char err[256];
	size_t len;
	int n = 0;
	X509 *x;

	if (mkdtemp(dir) == NULL || pem1 == NULL || pem2 == NULL)
		return 99;
	snprintf(path, sizeof(path), "%s/popgate.db", dir);
	CHECK(store_open(path, &st, &error) == 0, "store opens with the trust migration");
	CHECK(store_schema_version(st) >= 4, "schema version 4 or later");

	/* certificates and stores */
	x = trust_pem_first(pem1, strlen(pem1));
	CHECK(x != NULL && trust_cert_info(x, &ci) == 0, "certificate described");
	X509_free(x);
	CHECK(store_trust_exists(st, "corp", &error) == 0, "no store before the first add");
	CHECK(store_trust_cert_add(st, "corp", ci.sha256, ci.subject, pem1, &error) == 1,
	    "adding a certificate creates the store");
	CHECK(store_trust_exists(st, "corp", &error) == 1, "the store exists now");
	CHECK(store_trust_cert_add(st, "corp", ci.sha256, ci.subject, pem1, &error) == 0,
	    "the same certificate twice is not added twice");
	CHECK(store_trust_cert_add(st, "corp", "00:11", "CN=two.test", pem2, &error) == 1, "second certificate");
	CHECK(store_trust_cert_foreach(st, "corp", count_cert, &n, &error) == 0 && n == 2,
	    "two certificates listed (%d)", n);
	CHECK(store_trust_pem(st, "corp", &all, &len, &error) == 1 && all != NULL &&
	    len == strlen(pem1) + strlen(pem2) + 2, "the store's PEM is both certificates");
	{
		int count = 0;
		X509_STORE *xs = trust_store_new(TRUST_CUSTOM, all, len, NULL, &count, err, sizeof(err));
		CHECK(xs != NULL && count == 2, "an X509 store is built from it (%d)", count);
		X509_STORE_free(xs);
	}
	free(all);
	CHECK(store_trust_pem(st, "nosuch", &all, &len, &error) == 0 && all == NULL,
	    "a missing store has no PEM");

	/* an account using it */
	CHECK(store_user_add(st, "tom", "x", 0, &error) == 0, "user added");
	memset(&a, 0, sizeof(a));
	a.owner = "tom";
	a.name = "mail";
	a.host = "pop.test";
	a.port = 995;
	a.login = "tom";
	a.secret = (unsigned char *)"s";
	a.secret_len = 1;
	a.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	CHECK(store_account_add(st, &a, &error) == 0, "account added");
	CHECK(store_account_trust_get(st, a.id, &t, &error) == 1, "trust settings read");
	CHECK_STR(t.trust, "system", "default trust store is system");
	CHECK_STR(t.min_tls, "1.2", "default minimum TLS 1.2");
	CHECK_STR(t.max_tls, "1.3", "default maximum TLS 1.3");
	CHECK(t.tofu == 0 && t.insecure == 0 && t.pins[0] == '\0' && t.pending_pin[0] == '\0',
	    "no tofu, not insecure, no pins");
	account_trust_describe(&t, a.ca_file, desc, sizeof(desc));
	CHECK(strstr(desc, "trust=file:/etc/ssl/certs/ca-certificates.crt") != NULL, "legacy CA file shown: %s", desc);

	free(t.trust);
	t.trust = strdup("corp");
	t.tofu = 1;
	snprintf(t.min_tls, sizeof(t.min_tls), "1.3");
	CHECK(store_account_trust_set(st, a.id, &t, 1, &error) == 0, "trust settings written");
	store_account_trust_clear(&t);
	CHECK(store_account_trust_get(st, a.id, &t, &error) == 1 && strcmp(t.trust, "corp") == 0 &&
	    t.tofu == 1 && strcmp(t.min_tls, "1.3") == 0, "and read back");
	store_account_trust_clear(&t);
	{
		struct store_account back;
		CHECK(store_account_get_id(st, a.id, &back, &error) == 1 && back.ca_file == NULL,
		    "choosing a store drops the old CA file");
		CHECK(account_trust_load(st, NULL, &back, &at, err, sizeof(err)) == 0 && at.x509 != NULL &&
		    at.certs == 2 && at.min_tls == TLS1_3_VERSION, "account trust built from the custom store");
		memset(&p, 0, sizeof(p));
		account_trust_params(&at, &p);
		CHECK(p.store == at.x509 && p.min_tls == TLS1_3_VERSION && p.max_tls == TLS1_3_VERSION &&
		    p.check_peer != NULL && !p.insecure, "pop3c params filled");
		/* TOFU: the first success records the key seen, a change waits as pending */
		snprintf(at.seen_pin, sizeof(at.seen_pin), "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
		CHECK(account_trust_done(st, &at, NULL, 1, desc, sizeof(desc), err, sizeof(err)) == 0 &&
		    strstr(desc, "now pinned") != NULL, "first use pins the key: %s", desc);
		account_trust_clear(&at);
		CHECK(store_account_trust_get(st, a.id, &t, &error) == 1 &&
		    strcmp(t.pins, "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 0, "pin stored");
		store_account_trust_clear(&t);
		CHECK(account_trust_load(st, NULL, &back, &at, err, sizeof(err)) == 0 && at.tp.n == 1,
		    "the pin is loaded");
		{
			struct pop3c_failure f;
			memset(&f, 0, sizeof(f));
			f.code = POP3C_CERT_PIN_MISMATCH;
			snprintf(at.seen_pin, sizeof(at.seen_pin), "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=");
			CHECK(account_trust_done(st, &at, &f, 0, desc, sizeof(desc), err, sizeof(err)) == 0,
			    "a changed key is noted");
		}
		account_trust_clear(&at);
		CHECK(store_account_trust_get(st, a.id, &t, &error) == 1 &&
		    strcmp(t.pending_pin, "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=") == 0 &&
		    strcmp(t.pins, "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 0,
		    "the changed key is pending, the old pin stays");
		CHECK(store_account_trust_record_pin(st, a.id, "sha256/x", &error) == 0,
		    "TOFU never overwrites an existing pin");
		/* insecure is refused unless allowed */
		t.insecure = 1;
		CHECK(store_account_trust_set(st, a.id, &t, 0, &error) == 0, "marked insecure");
		store_account_trust_clear(&t);
		CHECK(account_trust_load(st, NULL, &back, &at, err, sizeof(err)) == -2 &&
		    strstr(err, "allow_insecure") != NULL, "an insecure account is refused: %s", err);
		store_account_clear(&back);
	}

	/* listing and deleting */
	CHECK(store_trust_store_foreach(st, count_store, stores, &error) == 0, "stores listed");
	CHECK_STR(stores, "corp:2:1;", "one store with two certificates and one account");
	CHECK(store_trust_del(st, "corp", NULL, &error) == -1 && strstr(error, "used by 1 account") != NULL,
	    "a store in use cannot be deleted");
	CHECK(store_trust_del(st, "corp", "00:11", &error) == 1, "one certificate deleted");
	CHECK(store_trust_del(st, "corp", "00:11", &error) == 0, "deleting it again finds nothing");
	CHECK(store_account_del(st, "tom", "mail", &error) == 1, "account deleted");
	CHECK(store_trust_del(st, "corp", NULL, &error) == 1, "the unused store is deleted");
	CHECK(store_trust_exists(st, "corp", &error) == 0, "and gone");

	/* the codes */
	CHECK_STR(account_trust_code(POP3C_STAGE_TLS, POP3C_CERT_PIN_MISMATCH), "pin_mismatch", "pin code");
	CHECK_STR(account_trust_code(POP3C_STAGE_CONNECT, POP3C_TIMEOUT), "connect_failed", "timeout code");
	CHECK_STR(account_trust_code(POP3C_STAGE_AUTH, POP3C_AUTH_FAILED), "auth_failed", "auth code");
	free(pem1);
	free(pem2);
	store_close(&st);
	unlink(path);
	{
		char wal[300];
		snprintf(wal, sizeof(wal), "%s-wal", path);
		unlink(wal);
		snprintf(wal, sizeof(wal), "%s-shm", path);
		unlink(wal);
	}
	rmdir(dir);
	return test_done();
}
