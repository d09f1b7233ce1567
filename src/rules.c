/*
 * rules.c: sender lists, trusted networks and the Received walk (see
 * rules.h). The DNS lookups are in rules-dns.c.
 */
#include "rules.h"
#include "filter.h"
#include "store.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct rules_lists {
	char **pattern;
	char *kind;             /* 'a' or 'b' */
	size_t n, cap;
};

static int
collect(const char *kind, const char *pattern, void *ctx)
{
	struct rules_lists *l = ctx;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		char **np = realloc(l->pattern, ncap * sizeof(*np));
		char *nk;

		if (np == NULL)
			return -1;
		l->pattern = np;
		if ((nk = realloc(l->kind, ncap)) == NULL)
			return -1;
		l->kind = nk;
		l->cap = ncap;
	}
	if ((l->pattern[l->n] = strdup(pattern)) == NULL)
		return -1;
	l->kind[l->n++] = kind[0] == 'a' ? 'a' : 'b';
	return 0;
}

int
rules_lists_load(struct store *st, struct rules_lists **l_r, const char **error_r)
{
	struct rules_lists *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (store_list_foreach(st, collect, l, error_r) == -1) {
		rules_lists_free(&l);
		return -1;
	}
	*l_r = l;
	return 0;
}

void
rules_lists_free(struct rules_lists **lp)
{
	struct rules_lists *l = *lp;

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->pattern[i]);
	free(l->pattern);
	free(l->kind);
	free(l);
	*lp = NULL;
}

static void
add_hit(struct rules_hits *hits, const char *rule, const char *detail, double weight)
{
	struct rules_hit *h;

	if (hits->count >= RULES_MAX_HITS)
		return;
	h = &hits->hit[hits->count++];
	snprintf(h->rule, sizeof(h->rule), "%s", rule);
	snprintf(h->detail, sizeof(h->detail), "%s", detail);
	h->weight = weight;
}

void
rules_lists_check(const struct rules_lists *l, const char *addr, struct rules_hits *hits)
{
	ssize_t allow = -1, block = -1;

	if (l == NULL || addr == NULL || addr[0] == '\0')
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (!filter_pattern_match(l->pattern[i], addr))
			continue;
		if (l->kind[i] == 'a' && allow == -1)
			allow = (ssize_t)i;
		else if (l->kind[i] == 'b' && block == -1)
			block = (ssize_t)i;
	}
	/* an allow entry wins over a block entry */
	if (allow != -1) {
		add_hit(hits, "allow_list", l->pattern[allow], -1.0);
		hits->allow = 1;
	} else if (block != -1) {
		add_hit(hits, "block_list", l->pattern[block], 1.0);
		hits->block = 1;
	}
}

/* ---- networks ---- */

static int
parse_net(const char *s, struct rules_net *n)
{
	char buf[64], *slash;
	long prefix;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1)
		n->family = 4;
	else if (inet_pton(AF_INET6, buf, n->addr) == 1)
		n->family = 6;
	else
		return -1;
	prefix = n->family == 4 ? 32 : 128;
	if (slash != NULL) {
		char *end;

		prefix = strtol(slash, &end, 10);
		if (*end != '\0' || prefix < 0 || prefix > (n->family == 4 ? 32 : 128))
			return -1;
	}
	n->prefix = (unsigned)prefix;
	return 0;
}

static int
net_contains(const struct rules_net *n, int family, const uint8_t *addr)
{
	unsigned bits = n->prefix, i;

	if (n->family != family)
		return 0;
	for (i = 0; bits >= 8; i++, bits -= 8) {
		if (n->addr[i] != addr[i])
			return 0;
	}
	if (bits > 0) {
		uint8_t mask = (uint8_t)(0xFF << (8 - bits));

		if ((n->addr[i] & mask) != (addr[i] & mask))
			return 0;
	}
	return 1;
}

int
rules_parse_networks(struct rules_config *cfg, const char *list, const char **error_r)
{
	char *copy = strdup(list), *save = NULL;

	if (copy == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	cfg->ntrusted = 0;
	for (char *t = strtok_r(copy, ", \t", &save); t != NULL; t = strtok_r(NULL, ", \t", &save)) {
		if (cfg->ntrusted >= RULES_MAX_NETS || parse_net(t, &cfg->trusted[cfg->ntrusted]) == -1) {
			free(copy);
			*error_r = "trusted_networks: expected addresses or CIDR prefixes (at most 32)";
			return -1;
		}
		cfg->ntrusted++;
	}
	free(copy);
	return 0;
}

int
rules_parse_zones(char **zones, size_t *n, const char *list, const char **error_r)
{
	char *copy = strdup(list), *save = NULL;

	if (copy == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < *n; i++)
		free(zones[i]);
	*n = 0;
	for (char *t = strtok_r(copy, ", \t", &save); t != NULL; t = strtok_r(NULL, ", \t", &save)) {
		if (*n >= RULES_MAX_ZONES || strlen(t) > 200 || strchr(t, '.') == NULL) {
			free(copy);
			*error_r = "zones: expected at most 8 domain names";
			return -1;
		}
		zones[(*n)++] = strdup(t);
	}
	free(copy);
	return 0;
}

void
rules_config_clear(struct rules_config *cfg)
{
	for (size_t i = 0; i < cfg->ndnsbl; i++)
		free(cfg->dnsbl[i]);
	for (size_t i = 0; i < cfg->nuribl; i++)
		free(cfg->uribl[i]);
	free(cfg->spamd);
	free(cfg->rspamd);
	memset(cfg, 0, sizeof(*cfg));
}

/* Loopback, private, link-local, CGNAT and unique-local are always internal. */
static int
trusted(const struct rules_config *cfg, int family, const uint8_t *a)
{
	static const char *builtin[] = {
		"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
		"100.64.0.0/10", "0.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10", NULL
	};
	struct rules_net n;

	for (int i = 0; builtin[i] != NULL; i++) {
		if (parse_net(builtin[i], &n) == 0 && net_contains(&n, family, a))
			return 1;
	}
	for (size_t i = 0; i < cfg->ntrusted; i++) {
		if (net_contains(&cfg->trusted[i], family, a))
			return 1;
	}
	return 0;
}

/* The sending IP of one Received header: the first [addr] (or (addr)) before " by ". */
static int
received_ip(const char *v, char *buf, size_t size, int *family_r, uint8_t *addr)
{
	const char *by = strcasestr(v, " by "), *end = by != NULL ? by : v + strlen(v);

	if (strncasecmp(v, "from ", 5) != 0 && strcasestr(v, "from ") == NULL)
		return 0;
	for (const char *p = v; p < end; p++) {
		const char *q;
		char ip[64];
		size_t n;

		if (*p != '[' && *p != '(')
			continue;
		q = p + 1;
		if (strncasecmp(q, "IPv6:", 5) == 0)
			q += 5;
		n = strspn(q, "0123456789abcdefABCDEF.:");
		if (n == 0 || n >= sizeof(ip) || (q[n] != ']' && q[n] != ')'))
			continue;
		memcpy(ip, q, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET, ip, addr) == 1)
			*family_r = 4;
		else if (inet_pton(AF_INET6, ip, addr) == 1)
			*family_r = 6;
		else
			continue;
		snprintf(buf, size, "%s", ip);
		return 1;
	}
	return 0;
}

int
rules_first_external(const struct rules_config *cfg, const struct tokenize_info *info, char *buf, size_t size)
{
	for (size_t i = 0; i < info->nreceived; i++) {
		uint8_t addr[16];
		int family;

		if (!received_ip(info->received[i], buf, size, &family, addr))
			continue;
		if (!trusted(cfg, family, addr))
			return 1;
	}
	return 0;
}

void
rules_hit_add(struct rules_hits *hits, const char *rule, const char *detail, double weight)
{
	add_hit(hits, rule, detail, weight);
}
