/*
 * rules: the non-statistical checks on a message, each with a weight.
 *
 *  - allow / block lists of sender patterns (table lists), decisive;
 *  - DNSBL: the IP of the first external relay, found by walking the
 *    Received headers from the top past the trusted networks, looked up in
 *    each configured zone (A record under the reversed address);
 *  - URIBL: the registered domain of each URL host in the body (at most
 *    RULES_MAX_URIBL of them), looked up in each configured zone;
 *  - external engines: SpamAssassin's spamd (SPAMC/1.5 CHECK over TCP) and
 *    rspamd (HTTP POST /checkv2); a hit when the engine calls it spam.
 *
 * The network rules are off unless configured; DNS goes through the
 * resolver. A lookup or an engine that fails is no hit (never a reason to
 * call mail spam).
 * Nothing here logs.
 */
#ifndef POPGATE_RULES_H
#define POPGATE_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "tokenize.h"

struct store;
struct resolver;

#define RULES_MAX_ZONES 8
#define RULES_MAX_NETS 32
#define RULES_MAX_HITS 16
#define RULES_MAX_URIBL 8

struct rules_net {
	int family;             /* 4 or 6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct rules_config {
	char *dnsbl[RULES_MAX_ZONES];
	size_t ndnsbl;
	char *uribl[RULES_MAX_ZONES];
	size_t nuribl;
	double dnsbl_weight;
	double uribl_weight;
	struct rules_net trusted[RULES_MAX_NETS];    /* besides loopback and private ranges */
	size_t ntrusted;
	int timeout_ms;
	char *spamd;            /* "host:port" or NULL */
	char *rspamd;           /* "http://host:11333/checkv2" or NULL */
	double spamd_weight;
	double rspamd_weight;
};

struct rules_hit {
	char rule[16];          /* "allow_list", "block_list", "dnsbl", "uribl" */
	char detail[300];       /* pattern, or "ZONE:NAME" */
	double weight;
};

struct rules_hits {
	struct rules_hit hit[RULES_MAX_HITS];
	size_t count;
	int allow, block;       /* a list matched */
};

/* The sender lists, loaded once. */
struct rules_lists;
int rules_lists_load(struct store *st, struct rules_lists **l_r, const char **error_r);
void rules_lists_free(struct rules_lists **lp);
/* Adds allow_list / block_list hits for addr (allow wins). */
void rules_lists_check(const struct rules_lists *l, const char *addr, struct rules_hits *hits);

void rules_hit_add(struct rules_hits *hits, const char *rule, const char *detail, double weight);

/* Parses "10.0.0.0/8, 2001:db8::/32" into cfg->trusted. */
int rules_parse_networks(struct rules_config *cfg, const char *list, const char **error_r);
/* Parses "zone1, zone2" into zones (malloc'd), at most RULES_MAX_ZONES. */
int rules_parse_zones(char **zones, size_t *n, const char *list, const char **error_r);
void rules_config_clear(struct rules_config *cfg);

/*
 * The first external relay: the "from" address of the topmost Received
 * header whose sending IP is not trusted. Writes the textual IP into buf.
 * Returns 1 found, 0 none.
 */
int rules_first_external(const struct rules_config *cfg, const struct tokenize_info *info, char *buf,
    size_t size);

/* DNSBL and URIBL through the resolver; no-op without zones or resolver. */
void rules_network(const struct rules_config *cfg, struct resolver *res, const struct tokenize_info *info,
    struct rules_hits *hits);

/*
 * Asks the configured engines about the message in fd (size bytes, read
 * with pread). Blocks up to timeout_ms per engine.
 */
void rules_engines(const struct rules_config *cfg, int fd, int64_t size, struct rules_hits *hits);
/* The engines' answers (exposed for tests): 1 spam, 0 not, -1 unreadable. */
int rules_spamd_parse(const char *reply, double *score_r, double *required_r);
int rules_rspamd_parse(const char *json, double *score_r, double *required_r);

#endif
