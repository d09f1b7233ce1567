/*
 * trust: which certificates popgate trusts for an upstream, made visible.
 *
 * Builds X509 stores from the three kinds of trust popgate offers: the OS
 * store (OpenSSL's built-in paths, never SSL_CERT_FILE/SSL_CERT_DIR), the
 * Mozilla set shipped by ca-certificates, or custom PEM certificates.
 * Computes and checks SPKI SHA-256 pins ("sha256/BASE64", as curl and HPKP
 * write them), describes certificates for people, and says when the
 * environment redirects OpenSSL's default trust. trust never logs and
 * never opens connections; only trust-account.c reads the database.
 */
#ifndef POPGATE_TRUST_H
#define POPGATE_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TRUST_MOZILLA_DIR "/usr/share/ca-certificates/mozilla"

enum trust_kind {
	TRUST_SYSTEM,
	TRUST_MOZILLA,
	TRUST_CUSTOM,
};

/* "system", "mozilla", "custom" <-> enum; -1 if unknown. */
int trust_kind_parse(const char *name);
const char *trust_kind_name(enum trust_kind kind);

/*
 * A new store (X509_STORE_free() it). For TRUST_CUSTOM, pem/len hold one
 * or more PEM certificates (the whole store); for TRUST_MOZILLA, dir may
 * name another folder of *.crt files (NULL: TRUST_MOZILLA_DIR). *count_r
 * (may be NULL) gets the number of certificates loaded (-1 if unknown,
 * for the hashed system folder).
 */
X509_STORE *trust_store_new(enum trust_kind kind, const char *pem, size_t len, const char *dir,
    int *count_r, char *err, size_t errlen);

/* Adds every PEM certificate in pem to store; returns how many, -1 on error. */
int trust_store_add_pem(X509_STORE *store, const char *pem, size_t len, char *err, size_t errlen);

/* "sha256/" + base64 of SHA-256 over the DER SubjectPublicKeyInfo. */
#define TRUST_PIN_SIZE 52
int trust_spki_pin(X509 *cert, char pin[TRUST_PIN_SIZE]);
/* Normalises a pin as people paste it ("sha256//x", bare base64, or hex). -1 if not a pin. */
int trust_pin_parse(const char *in, char pin[TRUST_PIN_SIZE]);

/*
 * Pins for one account. As a pop3c check_peer callback it accepts the
 * connection if any certificate of the verified chain matches any pin
 * (no pins: anything verified). On mismatch err names the leaf's pin.
 */
struct trust_pins {
	const char *const *pins;	/* normalised, "sha256/..." */
	size_t n;
};
int trust_pins_check(void *pins, SSL *ssl, char *err, size_t errlen);

/* A certificate described for people and the API. */
struct trust_cert_info {
	char subject[256];
	char issuer[256];
	char not_before[32];		/* "2026-12-04 20:00:00 UTC" */
	char not_after[32];
	int64_t not_after_unix;
	char sha256[96];		/* fingerprint of the DER, "AB:CD:..." */
	char pin[TRUST_PIN_SIZE];
	char sans[256];			/* "DNS:pop.example.org, IP:192.0.2.1" */
	int self_signed;
	int is_ca;
};
int trust_cert_info(X509 *cert, struct trust_cert_info *info);
/* The peer's chain as PEM (malloc'd, NUL-terminated), to show or to trust. */
char *trust_peer_chain_pem(SSL *ssl, size_t *len_r);
/* The first certificate in PEM text, or NULL. X509_free() it. */
X509 *trust_pem_first(const char *pem, size_t len);

/*
 * SSL_CERT_FILE and SSL_CERT_DIR redirect OpenSSL's default trust for
 * every program that uses it. Fills a sentence for people and returns 1
 * when either is set, 0 when neither is.
 */
int trust_env_override(char *msg, size_t msglen);

/* ---- an account's trust (trust-account.c, sql/002-trust.sql) ---- */
struct store;
struct pop3c_params;

struct trust_account {
	X509_STORE *store;		/* NULL: the account's ca_file or the OS store */
	char store_name[64];		/* "" when none was chosen */
	int min_tls, max_tls;		/* 0: default */
	char **pins;
	size_t npins;
	struct trust_pins tp;		/* points into pins */
};
/* Loads the account's store, TLS range and pins. 0, or -1 with err. */
int trust_account_load(struct store *st, int64_t account_id, struct trust_account *ta, char *err, size_t errlen);
/* Points p at them (p must not outlive ta). */
void trust_account_apply(struct trust_account *ta, struct pop3c_params *p);
void trust_account_clear(struct trust_account *ta);

#endif
