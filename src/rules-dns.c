/*
 * rules-dns.c: DNSBL and URIBL lookups through the resolver (see rules.h).
 *
 * All queries of one message are submitted first and then waited for, so a
 * message costs one round trip (bounded by dns_timeout_ms), not one per
 * zone. An answer with an A record is a listing; NXDOMAIN, NODATA and every
 * failure are not.
 */
#include "rules.h"
#include "resolver.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define RULES_MAX_QUERIES (RULES_MAX_ZONES * (1 + RULES_MAX_URIBL))

struct pending {
	struct resolver_query *q;
	const char *rule;
	char detail[300];
	double weight;
};

/* The DNSBL name of ip under zone: reversed octets or nibbles. */
static int
reversed(const char *ip, const char *zone, char *buf, size_t size)
{
	unsigned char a[16];
	size_t off = 0;

	if (inet_pton(AF_INET, ip, a) == 1)
		return snprintf(buf, size, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone) < (int)size ? 0 : -1;
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		int n = snprintf(buf + off, size - off, "%x.%x.", a[i] & 0xF, a[i] >> 4);

		if (n < 0 || (size_t)n >= size - off)
			return -1;
		off += (size_t)n;
	}
	return snprintf(buf + off, size - off, "%s", zone) < (int)(size - off) ? 0 : -1;
}

/*
 * The registered domain of a URL host, approximately: the last two labels,
 * or three under a two-letter country code whose second level is short
 * (example.co.uk, example.com.au). Numeric hosts have none.
 */
static int
registered_domain(const char *host, char *buf, size_t size)
{
	const char *p = host + strlen(host), *labels[4] = { NULL };
	int n = 0, numeric = 1;

	for (const char *c = host; *c != '\0'; c++) {
		if (!((*c >= '0' && *c <= '9') || *c == '.'))
			numeric = 0;
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
			return -1;
	}
	if (numeric)
		return -1;
	while (p > host && n < 4) {
		p--;
		if (*p == '.')
			labels[n++] = p + 1;
	}
	if (n < 4 && p == host)
		labels[n++] = host;
	if (n < 2)
		return -1;
	/* labels[0] is the TLD, labels[1] the second level with the TLD, ... */
	if (n >= 3 && strlen(labels[0]) == 2 && (size_t)(labels[0] - labels[1]) - 1 <= 3)
		return snprintf(buf, size, "%s", labels[2]) < (int)size ? 0 : -1;
	return snprintf(buf, size, "%s", labels[1]) < (int)size ? 0 : -1;
}

static void
submit(struct resolver *res, const struct rules_config *cfg, struct pending *p, size_t *n, const char *name,
    const char *rule, const char *detail, double weight)
{
	const char *error;

	if (*n >= RULES_MAX_QUERIES)
		return;
	if (resolver_submit(res, name, DNS_T_A, cfg->timeout_ms, &p[*n].q, &error) == -1)
		return;
	p[*n].rule = rule;
	snprintf(p[*n].detail, sizeof(p[*n].detail), "%s", detail);
	p[*n].weight = weight;
	(*n)++;
}

void
rules_network(const struct rules_config *cfg, struct resolver *res, const struct tokenize_info *info,
    struct rules_hits *hits)
{
	struct pending p[RULES_MAX_QUERIES];
	char ip[64], name[512], detail[300], dom[256];
	size_t n = 0;

	if (res == NULL || (cfg->ndnsbl == 0 && cfg->nuribl == 0))
		return;
	if (cfg->ndnsbl > 0 && rules_first_external(cfg, info, ip, sizeof(ip))) {
		for (size_t z = 0; z < cfg->ndnsbl; z++) {
			if (reversed(ip, cfg->dnsbl[z], name, sizeof(name)) == -1)
				continue;
			snprintf(detail, sizeof(detail), "%s:%s", cfg->dnsbl[z], ip);
			submit(res, cfg, p, &n, name, "dnsbl", detail, cfg->dnsbl_weight);
		}
	}
	for (size_t d = 0, asked = 0; d < info->ndomains && asked < RULES_MAX_URIBL; d++) {
		int dup = 0;

		if (registered_domain(info->domains[d], dom, sizeof(dom)) == -1)
			continue;
		/* www.example.com and example.com are one lookup */
		for (size_t k = 0; k < d; k++) {
			char other[256];

			if (registered_domain(info->domains[k], other, sizeof(other)) == 0 && strcmp(other, dom) == 0)
				dup = 1;
		}
		if (dup)
			continue;
		asked++;
		for (size_t z = 0; z < cfg->nuribl; z++) {
			if (snprintf(name, sizeof(name), "%s.%s", dom, cfg->uribl[z]) >= (int)sizeof(name))
				continue;
			snprintf(detail, sizeof(detail), "%s:%s", cfg->uribl[z], dom);
			submit(res, cfg, p, &n, name, "uribl", detail, cfg->uribl_weight);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct resolver_answer *ans = NULL;
		const char *error;
		int listed = 0;

		if (resolver_wait(&p[i].q, &ans, &error) == -1)
			continue;
		for (size_t k = 0; k < ans->count; k++)
			listed |= ans->rr[k].type == DNS_T_A;
		if (ans->rcode == DNS_R_NOERROR && listed)
			rules_hit_add(hits, p[i].rule, p[i].detail, p[i].weight);
		resolver_answer_free(&ans);
	}
}
