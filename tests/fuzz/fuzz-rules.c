/*
 * fuzz-rules: the rule parsers that read outside input on arbitrary bytes:
 * spamd and rspamd replies, the Received headers walked for the first
 * external relay, and the network and zone lists of the settings. The
 * first byte picks the parser.
 */
#include "rules.h"
#include "tokenize.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
received(const char *s)
{
	static struct rules_config cfg;
	static int ready;
	struct tokenize_info info = { 0 };
	const char *error;
	char ip[64];

	if (!ready) {
		(void)rules_parse_networks(&cfg, "203.0.113.0/24, 2001:db8::/32", &error);
		ready = 1;
	}
	/* one Received value per line, top first, as tokenize gathers them */
	while (*s != '\0' && info.nreceived < TOKENIZE_MAX_RECEIVED) {
		const char *nl = strchr(s, '\n');
		size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);

		if ((info.received[info.nreceived] = strndup(s, len)) == NULL)
			break;
		info.nreceived++;
		s += len + (nl != NULL);
	}
	(void)rules_first_external(&cfg, &info, ip, sizeof(ip));
	tokenize_info_clear(&info);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_config cfg;
	char *zones[RULES_MAX_ZONES];
	double a, b;
	size_t n = 0;
	const char *error;
	char *s;

	if (size == 0 || (s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		(void)rules_spamd_parse(s, &a, &b);
		break;
	case 1:
		(void)rules_rspamd_parse(s, &a, &b);
		break;
	case 2:
		received(s);
		break;
	default:
		memset(&cfg, 0, sizeof(cfg));
		(void)rules_parse_networks(&cfg, s, &error);
		(void)rules_parse_zones(zones, &n, s, &error);
		for (size_t i = 0; i < n; i++)       /* what it took before an error too */
			free(zones[i]);
		rules_config_clear(&cfg);
		break;
	}
	free(s);
	return 0;
}
