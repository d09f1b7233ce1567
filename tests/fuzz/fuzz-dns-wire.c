/*
 * libFuzzer target for the DNS reply decoder. The first byte picks the
 * query type, the rest is the reply; the question is fixed, so the fuzzer
 * learns to match it from the seeds in tests/fuzz/dns-wire-seeds/.
 */
#include "dns-wire.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int qtypes[] = { DNS_T_A, DNS_T_AAAA, DNS_T_CNAME, DNS_T_TXT, DNS_T_MX, DNS_T_PTR };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_reply *rep = NULL, *dup;
	const char *err;
	int qtype;

	if (size < 1)
		return 0;
	qtype = qtypes[data[0] % (sizeof(qtypes) / sizeof(qtypes[0]))];
	if (dns_wire_reply(data + 1, size - 1, "alias.mail.test", qtype, 0, &rep, &err) == 0) {
		for (size_t i = 0; i < rep->count; i++) {
			if (rep->rr[i].owner == NULL || rep->rr[i].text == NULL ||
			    strlen(rep->rr[i].owner) >= DNS_NAME_MAX)
				__builtin_trap();
		}
		dup = dns_reply_dup(rep);
		dns_reply_free(&dup);
		dns_reply_free(&rep);
	}
	return 0;
}
