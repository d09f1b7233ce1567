/*
 * store-trust and trust-account on a real database: custom stores, the
 * built-in system and mozilla rows, account TLS settings, pins, and what
 * trust_account_load makes of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pop3-client.h"
#include "store.h"
#include "tls.h"
#include "trust.h"
#include "test.h"

static int
count_cb(const struct store_trust *t, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static char *
self_signed_pem(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	char *s;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(b, x);
	BIO_get_mem_ptr(b, &m);
	s = strndup(m->data, m->length);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(key);
	return s;
}

int
main(void)
{
	char dir[] = "/tmp/popgate-test-store-trust-XXXXXX", path[300], err[512], **pins;
	struct store *st = NULL;
	struct store_account a;
	struct store_trust t;
	struct store_account_tls at;
	struct trust_account ta;
	struct pop3c_params p;
	const char *error = NULL;
	char *pem = self_signed_pem();
	int r, n = 0;
	size_t np;

	if (mkdtemp(dir) == NULL)
		return 99;
	snprintf(path, sizeof path, "%s/popgate.db", dir);
	r = store_open(path, &st, &error);
	CHECK(r == 0, "store opens with the trust migration (%s)", r ? error : "");
	r = store_user_add(st, "alice", "$hash", 0, &error);
	memset(&a, 0, sizeof a);
	a.owner = "alice";
	a.name = "work";
	a.host = "pop.example";
	a.port = 995;
	a.login = "a@example";
	a.secret = (unsigned char *)"x";
	a.secret_len = 1;
	a.auth = "auto";
	r = store_account_add(st, &a, &error);
	CHECK(r == 0, "account added");

	r = store_trust_foreach(st, count_cb, &n, &error);
	CHECK(r == 0 && n == 2, "system and mozilla stores exist from the start (%d)", n);
	r = store_trust_get(st, "mozilla", &t, &error);
	CHECK(r == 1 && strcmp(t.kind, "mozilla") == 0 && t.pem == NULL, "mozilla row");
	store_trust_clear(&t);

	r = store_trust_add(st, "corp", pem, &error);
	CHECK(r == 0, "custom store added");
	r = store_trust_add(st, "corp", pem, &error);
	CHECK(r == -1 && strstr(error, "exists already") != NULL, "duplicate name refused: %s", error);
	r = store_trust_add(st, "empty", "", &error);
	CHECK(r == -1, "custom store without certificates refused");
	r = store_trust_set_pem(st, "system", pem, &error);
	CHECK(r == 0, "system store's PEM cannot be set");
	r = store_trust_get(st, "corp", &t, &error);
	CHECK(r == 1 && strcmp(t.kind, "custom") == 0 && strcmp(t.pem, pem) == 0, "custom store read back");

	/* Defaults, then settings. */
	r = store_account_tls_get(st, a.id, &at, &error);
	CHECK(r == 0 && at.trust_store_id == 0 && at.tls_min == 0 && at.tls_max == 0, "defaults without a row");
	at.trust_store_id = t.id;
	at.tls_min = TLS1_2_VERSION;
	at.tls_max = TLS1_2_VERSION;
	r = store_account_tls_set(st, a.id, &at, &error);
	CHECK(r == 0, "account TLS set");
	memset(&at, 0, sizeof at);
	r = store_account_tls_get(st, a.id, &at, &error);
	CHECK(r == 0 && at.trust_store_id == t.id && at.tls_min == TLS1_2_VERSION && at.tls_max == TLS1_2_VERSION,
	    "account TLS read back");
	at.tls_min = TLS1_3_VERSION;
	r = store_account_tls_set(st, a.id, &at, &error);
	CHECK(r == -1 && strstr(error, "above") != NULL, "min above max refused");

	r = store_trust_del(st, "corp", &error);
	CHECK(r == -1 && strstr(error, "still used") != NULL, "a store in use cannot be deleted: %s", error);

	r = store_pin_add(st, a.id, "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "old key", &error);
	CHECK(r == 0, "pin added");
	r = store_pin_add(st, a.id, "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=", NULL, &error);
	r = store_pin_add(st, a.id, "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=", NULL, &error);
	CHECK(r == 0, "same pin twice is fine");
	r = store_pin_add(st, a.id, "AAAA", NULL, &error);
	CHECK(r == -1, "unnormalised pin refused");
	r = store_pin_list(st, a.id, &pins, &np, &error);
	CHECK(r == 0 && np == 2 && pins[2] == NULL, "two pins listed");
	store_pins_free(&pins);
	CHECK(pins == NULL, "store_pins_free clears");

	r = trust_account_load(st, a.id, &ta, err, sizeof err);
	CHECK(r == 0 && ta.store != NULL && strcmp(ta.store_name, "corp") == 0, "trust_account_load builds the store");
	CHECK(ta.min_tls == TLS1_2_VERSION && ta.npins == 2 && ta.tp.n == 2, "and the TLS range and pins");
	memset(&p, 0, sizeof p);
	trust_account_apply(&ta, &p);
	CHECK(p.store == ta.store && p.max_tls == TLS1_2_VERSION && p.check_peer == trust_pins_check &&
	    p.check_peer_arg == &ta.tp, "applied to pop3c params");
	trust_account_clear(&ta);

	r = store_pin_del(st, a.id, "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &error);
	CHECK(r == 1, "pin deleted");
	r = store_pin_del(st, a.id, "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &error);
	CHECK(r == 0, "deleting it again finds nothing");

	/* The account goes: its settings and pins go with it; then the store can go. */
	r = store_account_del(st, "alice", "work", &error);
	r = store_trust_del(st, "corp", &error);
	CHECK(r == 1, "unused store deleted (%s)", r == -1 ? error : "");
	r = store_pin_list(st, a.id, &pins, &np, &error);
	CHECK(r == 0 && np == 0, "pins went with the account");
	store_pins_free(&pins);

	store_trust_clear(&t);
	store_close(&st);
	free(pem);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return test_done();
}
