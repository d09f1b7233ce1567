/*
 * account-trust: one upstream account's trust settings made into what a
 * connection needs, and trust-on-first-use kept up to date.
 *
 * Reads the account's trust columns (and a custom store's certificates)
 * from the store, builds the X509 store ("system", "mozilla" or custom),
 * the SPKI pins and the TLS version range, and fills a pop3c_params. Its
 * check_peer callback checks the pins and remembers the key the server
 * showed, so that account_trust_done() can record it on first use or keep
 * a changed key as pending until a person accepts it. An account marked
 * insecure is refused here unless the configuration allows it. It also
 * fetches the chain a server presents (without trusting it) and says in
 * words what each failure code means and what to do about it.
 * account-trust never logs.
 */
#ifndef POPGATE_ACCOUNT_TRUST_H
#define POPGATE_ACCOUNT_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "pop3-client.h"
#include "store.h"
#include "trust.h"

struct config;

#define ACCOUNT_TRUST_MAX_PINS 16

struct account_trust {
	int64_t account_id;
	struct store_account_trust s;
	const char *ca_file;		/* legacy --ca-file of a "system" account, borrowed */
	X509_STORE *x509;
	char pins[ACCOUNT_TRUST_MAX_PINS][TRUST_PIN_SIZE];
	const char *pinv[ACCOUNT_TRUST_MAX_PINS];
	struct trust_pins tp;
	int min_tls, max_tls;		/* TLS1_2_VERSION... */
	int insecure_allowed;
	char seen_pin[TRUST_PIN_SIZE];	/* the server key seen by the last check, "" */
	int certs;			/* certificates in a custom store */
	char desc[256];			/* the settings in one line, for people */
};

/*
 * Loads the trust of account a. Returns 0; -1 with err set when the trust
 * cannot be built; -2 with err set when a is insecure and cf does not
 * allow it (cf NULL: treated as not allowed).
 */
int account_trust_load(struct store *st, const struct config *cf, const struct store_account *a,
    struct account_trust *t, char *err, size_t errlen);
/* Sets store, ca_file, versions, insecure and check_peer in p (t must outlive it). */
void account_trust_params(struct account_trust *t, struct pop3c_params *p);
/*
 * Fills p whole for connecting to account a as a sync does: host, port,
 * STLS, login, password, mechanism, timeout and the trust in t (a, password
 * and t must outlive p).
 */
void account_pop3c_params(const struct store_account *a, const char *password, int timeout_ms,
    struct account_trust *t, struct pop3c_params *p);
/*
 * After pop3c_connect(): on success under TOFU with no pin yet, records
 * the key seen (*note_r says so); on a pin mismatch under TOFU keeps the
 * new key as pending. Returns -1 with err only on store errors.
 */
int account_trust_done(struct store *st, struct account_trust *t, const struct pop3c_failure *f, int ok,
    char *note, size_t notelen, char *err, size_t errlen);
void account_trust_clear(struct account_trust *t);

/* The one-line summary of stored settings (trust store, versions, pins, flags). */
void account_trust_describe(const struct store_account_trust *s, const char *ca_file, char *buf, size_t size);

/* The failure code for a pop3c code ("pin_mismatch", "connect_failed"...). */
const char *account_trust_code(enum pop3c_stage stage, enum pop3c_code code);

/* What a server presented, fetched without verification. */
struct account_trust_fetch {
	char *chain_pem;		/* malloc'd, NULL if the handshake failed */
	size_t chain_len;
	char version[16];		/* "TLSv1.3" */
	int version_num;		/* TLS1_3_VERSION */
	char cipher[64];
};
/*
 * Connects (STLS first when starttls) and completes a handshake that
 * accepts any certificate and any version from TLS 1.0 to 1.3, only to
 * show what the server presents. Never sends anything else.
 */
int account_trust_fetch(const char *host, int port, int starttls, int timeout_ms,
    struct account_trust_fetch *out, char *err, size_t errlen);
void account_trust_fetch_clear(struct account_trust_fetch *out);

/*
 * Parses the stored pins column ("sha256/..." lines) into pins (at most
 * max). Returns how many, or -1 with err set.
 */
int account_trust_parse_pins(const char *text, char pins[][TRUST_PIN_SIZE], size_t max, char *err, size_t errlen);

/* Every certificate of a PEM text, in order (sk_X509_pop_free(..., X509_free)). */
STACK_OF(X509) *account_trust_pem_chain(const char *pem, size_t len);

#endif
