/*
 * Fuzzes what popgate reads from people's files and its own pins column:
 * the input as PEM certificates (trust add), each certificate described
 * (trust list), added to an X509 store, and every line as a pin (account
 * set --pin and the stored pins).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "account-trust.h"
#include "trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pins[ACCOUNT_TRUST_MAX_PINS][TRUST_PIN_SIZE], pin[TRUST_PIN_SIZE], err[256];
	char *text = malloc(size + 1);
	STACK_OF(X509) *sk;
	X509_STORE *store;
	int n;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if ((sk = account_trust_pem_chain(text, size)) != NULL) {
		for (int i = 0; i < sk_X509_num(sk); i++) {
			struct trust_cert_info ci;
			if (trust_cert_info(sk_X509_value(sk, i), &ci) == 0 &&
			    (strlen(ci.sha256) >= sizeof(ci.sha256) || strncmp(ci.pin, "sha256/", 7) != 0))
				abort();
		}
		sk_X509_pop_free(sk, X509_free);
	}
	if ((store = X509_STORE_new()) != NULL) {
		(void)trust_store_add_pem(store, text, size, err, sizeof(err));
		X509_STORE_free(store);
	}
	n = account_trust_parse_pins(text, pins, ACCOUNT_TRUST_MAX_PINS, err, sizeof(err));
	if (n > ACCOUNT_TRUST_MAX_PINS)
		abort();
	for (int i = 0; i < n; i++) {
		/* A parsed pin is normal form: parsing it again gives itself. */
		if (trust_pin_parse(pins[i], pin) == -1 || strcmp(pin, pins[i]) != 0)
			abort();
	}
	free(text);
	return 0;
}
