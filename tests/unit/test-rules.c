/*
 * test-rules: the parts of the rules that need no network: the first
 * external relay from Received headers past trusted networks, network and
 * zone lists, and the answers of spamd and rspamd.
 */
#include "rules.h"
#include "tokenize.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void
received(struct tokenize_info *info, const char **hdrs)
{
	memset(info, 0, sizeof(*info));
	for (; *hdrs != NULL; hdrs++)
		info->received[info->nreceived++] = strdup(*hdrs);
}

static void
test_first_external(void)
{
	static const char *hdrs[] = {
		"from localhost (localhost [127.0.0.1]) by mail.home.example (Postfix) with ESMTP",
		"from mx.isp.example (mx.isp.example [203.0.113.5]) by mail.home.example with ESMTP",
		"from dsl-pool.bad.example (HELO friend) (198.51.100.77) by mx.isp.example with SMTP",
		"from origin.example ([192.0.2.1]) by dsl-pool.bad.example",
		NULL
	};
	static const char *v6[] = {
		"from relay (relay [IPv6:fd00::1]) by inner",
		"from sender.example (sender.example [IPv6:2001:db8::25]) by relay",
		NULL
	};
	static const char *none[] = {
		"by localhost with IMAP (fetchmail-5.9.0) for jm@localhost (single-drop)",
		"from [10.1.2.3] by x",
		NULL
	};
	struct rules_config cfg;
	struct tokenize_info info;
	const char *error;
	char ip[64];

	memset(&cfg, 0, sizeof(cfg));
	received(&info, hdrs);
	CHECK(rules_first_external(&cfg, &info, ip, sizeof(ip)) == 1 && strcmp(ip, "203.0.113.5") == 0,
	    "loopback skipped, the ISP's MX is the first external relay (%s)", ip);
	CHECK(rules_parse_networks(&cfg, "203.0.113.0/24, 2001:db8:ffff::/48", &error) == 0 && cfg.ntrusted == 2,
	    "trusted networks parsed");
	CHECK(rules_first_external(&cfg, &info, ip, sizeof(ip)) == 1 && strcmp(ip, "198.51.100.77") == 0,
	    "with the ISP trusted, the relay it received from is next (%s)", ip);
	tokenize_info_clear(&info);
	received(&info, v6);
	CHECK(rules_first_external(&cfg, &info, ip, sizeof(ip)) == 1 && strcmp(ip, "2001:db8::25") == 0,
	    "IPv6: unique-local skipped (%s)", ip);
	tokenize_info_clear(&info);
	received(&info, none);
	CHECK(rules_first_external(&cfg, &info, ip, sizeof(ip)) == 0, "only internal hops: none");
	tokenize_info_clear(&info);
	CHECK(rules_parse_networks(&cfg, "10.0.0.0/33", &error) == -1, "bad prefix refused");
	CHECK(rules_parse_networks(&cfg, "not-an-ip", &error) == -1, "bad address refused");
	rules_config_clear(&cfg);
}

static void
test_zones(void)
{
	char *zones[RULES_MAX_ZONES] = { NULL };
	size_t n = 0;
	const char *error;

	CHECK(rules_parse_zones(zones, &n, "zen.example, dbl.example", &error) == 0 && n == 2 &&
	    strcmp(zones[1], "dbl.example") == 0, "two zones");
	CHECK(rules_parse_zones(zones, &n, "", &error) == 0 && n == 0, "empty list turns the rule off");
	CHECK(rules_parse_zones(zones, &n, "nodot", &error) == -1, "a zone needs a dot");
	for (size_t i = 0; i < n; i++)
		free(zones[i]);
}

static void
test_engines(void)
{
	double s = 0, r = 0;

	CHECK(rules_spamd_parse("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: True ; 15.3 / 5.0\r\n\r\n", &s,
	    &r) == 1 && s == 15.3 && r == 5.0, "spamd spam answer");
	CHECK(rules_spamd_parse("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -1.9 / 5.0\r\n\r\n", &s, &r) == 0 && s == -1.9,
	    "spamd ham answer");
	CHECK(rules_spamd_parse("SPAMD/1.0 76 Bad header line: xxx\r\n", &s, &r) == -1, "spamd error");
	CHECK(rules_spamd_parse("garbage\nSpam: True ; 1 / 2", &s, &r) == -1, "not spamd");
	CHECK(rules_rspamd_parse("{\"action\":\"reject\",\"score\":16.5,\"required_score\":15}", &s, &r) == 1 &&
	    s == 16.5 && r == 15, "rspamd reject");
	CHECK(rules_rspamd_parse("{\"action\":\"add header\",\"score\":7,\"required_score\":15}", &s, &r) == 1,
	    "rspamd add header");
	CHECK(rules_rspamd_parse("{\"action\":\"no action\",\"score\":0.5,\"required_score\":15}", &s, &r) == 0,
	    "rspamd no action");
	CHECK(rules_rspamd_parse("{\"score\":1}", &s, &r) == -1 && rules_rspamd_parse("<html>", &s, &r) == -1,
	    "rspamd unreadable");
}

static void
test_hits(void)
{
	struct rules_hits hits;

	memset(&hits, 0, sizeof(hits));
	for (int i = 0; i < RULES_MAX_HITS + 5; i++)
		rules_hit_add(&hits, "dnsbl", "zone:1.2.3.4", 0.3);
	CHECK(hits.count == RULES_MAX_HITS, "hits are capped");
}

int
main(void)
{
	test_first_external();
	test_zones();
	test_engines();
	test_hits();
	return test_done();
}
