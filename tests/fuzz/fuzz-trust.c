/*
 * Fuzzes what trust takes from people and servers: pins as pasted, PEM
 * bundles for custom stores, and the description of whatever certificate
 * the PEM holds (names, SANs, dates).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trust_cert_info info;
	char pin[TRUST_PIN_SIZE], err[256], *text;
	X509_STORE *st;
	X509 *x;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (trust_pin_parse(text, pin) == 0 && (strncmp(pin, "sha256/", 7) != 0 || strlen(pin) != 51))
		abort();
	if ((st = X509_STORE_new()) != NULL) {
		trust_store_add_pem(st, (const char *)data, size, err, sizeof err);
		X509_STORE_free(st);
	}
	if ((x = trust_pem_first((const char *)data, size)) != NULL) {
		if (trust_cert_info(x, &info) == 0 &&
		    (strlen(info.pin) != 51 || strlen(info.sans) >= sizeof info.sans))
			abort();
		X509_free(x);
	}
	free(text);
	return 0;
}
