/*
 * rules-dns.c: DNSBL and URIBL lookups (see rules.h).
 */
#include "rules.h"

void
rules_network(const struct rules_config *cfg, struct resolver *res, const struct tokenize_info *info,
    struct rules_hits *hits)
{
	/* The lookups need the resolver; until it is wired in, the rules stay off. */
	(void)cfg;
	(void)res;
	(void)info;
	(void)hits;
}
