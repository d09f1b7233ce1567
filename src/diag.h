/*
 * diag: says why an upstream account works or does not, in one report.
 *
 * Runs a real login through pop3-client and, when it fails on TLS, the
 * probes that explain it: the certificate chain the server presents (with
 * its SPKI pin, so people can trust or pin it) and the TLS version it
 * picks. Adds a hint people can act on, the addresses tried, and whether
 * SSL_CERT_FILE/SSL_CERT_DIR redirect OpenSSL's default trust. The result
 * is JSON for `popgate account test` and the API. diag never logs, never
 * stores anything, and the password never appears in the report.
 */
#ifndef POPGATE_DIAG_H
#define POPGATE_DIAG_H

#include <jansson.h>

#include "pop3-client.h"

/*
 * Tests p (a login, STAT, QUIT; nothing is deleted). store_name names the
 * trust store in hints ("system", "mozilla", a custom store's name).
 * Returns a new JSON object, or NULL when out of memory.
 */
json_t *diag_upstream(const struct pop3c_params *p, const char *store_name);

/* The hint for a failure code, as in the report ("" when none). */
const char *diag_hint(enum pop3c_code code);

#endif
