/*
 * libFuzzer target for the DNS codec. The first byte picks the query type,
 * the rest is the reply; the question is fixed, so the fuzzer learns to
 * match it from the seeds in tests/fuzz/dns-wire-seeds/. A first byte of
 * 0xff makes the rest a name: it must canonicalise, encode (padded) and
 * decode back as its own question.
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
	if (data[0] == 0xff) {
		/* Names come from mail too (URIBL): the query side. */
		char name[300], canon[DNS_NAME_MAX];
		unsigned char q[512];
		size_t n = size - 1 < sizeof(name) - 1 ? size - 1 : sizeof(name) - 1;
		int len;

		memcpy(name, data + 1, n);
		name[n] = '\0';
		if (dns_wire_name_canon(name, canon, sizeof(canon), &err) == 0) {
			len = dns_wire_query(canon, DNS_T_A, 0, q, sizeof(q), &err);
			if (len < 0 || len % DNS_PAD_BLOCK != 0)
				__builtin_trap();
			q[2] |= 0x80;
			if (dns_wire_reply(q, (size_t)len, canon, DNS_T_A, 0, &rep, &err) != 0)
				__builtin_trap();
			dns_reply_free(&rep);
		}
		return 0;
	}
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
