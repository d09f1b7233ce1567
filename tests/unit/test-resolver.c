/*
 * resolver pieces that need no server: the cache (TTL floor and cap,
 * negative entries, stale window, LRU bound), start-up checks of the DoH
 * settings, and addresses that never need a lookup.
 */
#include "resolver-int.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

static struct dns_reply *
reply(const char *name, int rcode, uint32_t ttl, int has_ttl, int records)
{
	struct dns_reply *r = calloc(1, sizeof(*r));

	r->rcode = rcode;
	r->name = strdup(name);
	r->ttl = ttl;
	r->has_ttl = has_ttl;
	r->count = (size_t)records;
	r->rr = calloc((size_t)records + 1, sizeof(*r->rr));
	for (int i = 0; i < records; i++) {
		r->rr[i].type = DNS_T_A;
		r->rr[i].ttl = ttl;
		r->rr[i].owner = strdup(name);
		r->rr[i].text = strdup("192.0.2.1");
		r->rr[i].text_len = 9;
	}
	return r;
}

static void
test_cache(void)
{
	struct rcache *c = rcache_new(3);
	struct dns_reply *r, *got = NULL;
	uint32_t ttl = 0;
	int stale = 0, found;
	int64_t t = 1000000;
	char key[32];

	CHECK(rcache_new(0) == NULL, "cache_size 0 means no cache");
	r = reply("a.test", 0, 1, 1, 1);
	rcache_put(c, "1/a.test", r, t);
	dns_reply_free(&r);
	found = rcache_get(c, "1/a.test", t + 4000, 0, &got, &ttl, &stale);
	CHECK(found && ttl == 1 && !stale && got->count == 1, "TTL 1 raised to the floor (%u)", ttl);
	dns_reply_free(&got);
	found = rcache_get(c, "1/a.test", t + RCACHE_TTL_FLOOR * 1000, 0, &got, &ttl, &stale);
	CHECK(!found, "expired past the floor");
	found = rcache_get(c, "1/a.test", t + RCACHE_TTL_FLOOR * 1000 + 1000, 1, &got, &ttl, &stale);
	CHECK(found && stale && ttl == RCACHE_STALE_TTL, "served stale when asked");
	dns_reply_free(&got);
	found = rcache_get(c, "1/a.test", t + (RCACHE_TTL_FLOOR + RCACHE_STALE_WINDOW) * 1000, 1, &got,
	    &ttl, &stale);
	CHECK(!found && rcache_count(c) == 0, "gone after the stale window");

	r = reply("big.test", 0, 10000000, 1, 1);
	rcache_put(c, "1/big.test", r, t);
	dns_reply_free(&r);
	found = rcache_get(c, "1/big.test", t + (int64_t)RCACHE_TTL_CAP * 1000 - 1, 0, &got, &ttl, &stale);
	CHECK(found, "held up to the cap");
	dns_reply_free(&got);
	found = rcache_get(c, "1/big.test", t + (int64_t)RCACHE_TTL_CAP * 1000, 0, &got, &ttl, &stale);
	CHECK(!found, "TTL capped");

	r = reply("nx.test", DNS_R_NXDOMAIN, 86400, 1, 0);
	rcache_put(c, "1/nx.test", r, t);
	dns_reply_free(&r);
	found = rcache_get(c, "1/nx.test", t + RCACHE_NEG_CAP * 1000 - 1, 0, &got, &ttl, &stale);
	CHECK(found && got->rcode == DNS_R_NXDOMAIN, "NXDOMAIN cached");
	dns_reply_free(&got);
	found = rcache_get(c, "1/nx.test", t + RCACHE_NEG_CAP * 1000, 0, &got, &ttl, &stale);
	CHECK(!found, "negative TTL capped");

	r = reply("nosoa.test", DNS_R_NXDOMAIN, 0, 0, 0);
	rcache_put(c, "1/nosoa.test", r, t);
	dns_reply_free(&r);
	CHECK(!rcache_get(c, "1/nosoa.test", t, 0, &got, &ttl, &stale), "negative answer without SOA not cached");

	/* LRU: 3 entries; touching k0 keeps it, k1 goes. */
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "1/k%d.test", i);
		r = reply(key + 2, 0, 300, 1, 1);
		rcache_put(c, key, r, t);
		dns_reply_free(&r);
	}
	found = rcache_get(c, "1/k0.test", t, 0, &got, &ttl, &stale);
	dns_reply_free(&got);
	r = reply("k3.test", 0, 300, 1, 1);
	rcache_put(c, "1/k3.test", r, t);
	dns_reply_free(&r);
	CHECK(rcache_count(c) == 3, "bounded at cache_size");
	found = rcache_get(c, "1/k0.test", t, 0, &got, &ttl, &stale);
	CHECK(found, "recently used entry kept");
	dns_reply_free(&got);
	found = rcache_get(c, "1/k1.test", t, 0, &got, &ttl, &stale);
	CHECK(!found, "least recently used entry evicted");
	rcache_free(&c);
	CHECK(c == NULL, "free sets NULL");
}

static struct config *
doh_config(const char *url, const char *bootstrap)
{
	char err[256];
	struct config *cf = config_load(NULL, err, sizeof(err));

	for (size_t i = 0; i < cf->doh_url_count; i++)
		free(cf->doh_url[i]);
	for (size_t i = 0; i < cf->dns_bootstrap_count; i++)
		free(cf->dns_bootstrap[i]);
	cf->dns_mode = DNS_MODE_DOH;
	cf->doh_url[0] = strdup(url);
	cf->doh_url_count = 1;
	cf->dns_bootstrap_count = 0;
	if (bootstrap != NULL)
		cf->dns_bootstrap[cf->dns_bootstrap_count++] = strdup(bootstrap);
	return cf;
}

static void
test_startup(void)
{
	struct config *cf;
	struct resolver *r = NULL;
	const char *err = NULL;
	int rc;

	cf = doh_config("https://doh.test:8443/dns-query", NULL);
	rc = resolver_new(cf, &r, &err);
	CHECK(rc == -1 && strstr(err, "no bootstrap entry") != NULL, "DoH host without bootstrap refused");
	config_free(&cf);
	cf = doh_config("https://doh.test:8443/dns-query", "doh.test:443:127.0.0.1");
	rc = resolver_new(cf, &r, &err);
	CHECK(rc == -1, "bootstrap for another port does not count");
	config_free(&cf);
	cf = doh_config("https://doh.test:8443/dns-query", "DOH.test:8443:127.0.0.1");
	rc = resolver_new(cf, &r, &err);
	CHECK(rc == 0 && r != NULL, "bootstrap matches the host");
	resolver_free(&r);
	CHECK(r == NULL, "resolver_free sets NULL");
	config_free(&cf);
	cf = doh_config("https://127.0.0.1:8443/dns-query", NULL);
	rc = resolver_new(cf, &r, &err);
	CHECK(rc == 0, "IP literal needs no bootstrap");
	resolver_free(&r);
	config_free(&cf);
}

static void
test_literals(void)
{
	struct config *cf = doh_config("https://127.0.0.1:1/dns-query", NULL);
	struct resolver *r = NULL;
	struct resolver_stats st;
	struct sockaddr_storage a[4];
	const char *err;
	int n;

	if (resolver_new(cf, &r, &err) == -1) {
		CHECK(0, "resolver_new: %s", err);
		return;
	}
	n = resolver_addrs(r, "192.0.2.7", 995, a, 4, 0, &err);
	CHECK(n == 1 && a[0].ss_family == AF_INET &&
	    ntohs(((struct sockaddr_in *)&a[0])->sin_port) == 995, "IPv4 literal");
	n = resolver_addrs(r, "[2001:db8::1]", 995, a, 4, 0, &err);
	CHECK(n == 1 && a[0].ss_family == AF_INET6, "bracketed IPv6 literal");
	n = resolver_addrs(r, "localhost", 110, a, 4, 0, &err);
	CHECK(n == 2 && a[0].ss_family == AF_INET6 && a[1].ss_family == AF_INET, "localhost: ::1 then 127.0.0.1");
	n = resolver_addrs(r, "bad..name", 110, a, 4, 0, &err);
	CHECK(n == -1 && strcmp(err, "empty label in name") == 0, "bad name refused without a query");
	resolver_stats(r, &st);
	CHECK(st.queries == 0 && st.connections_opened == 0, "no query sent for literals");
	/* A server that refuses: the error comes back well before the deadline. */
	{
		struct resolver_answer *ans = NULL;
		int rc = resolver_lookup(r, "x.test", DNS_T_A, 2000, &ans, &err);

		CHECK(rc == -1 && strstr(err, "Failed to connect") != NULL, "refused connection reported (%s)", err);
	}
	resolver_stats(r, &st);
	CHECK(st.queries == 1 && st.failures == 1 && st.upstream_failures == 2,
	    "counters: one retry round after a transport failure");
	resolver_free(&r);
	config_free(&cf);
}

int
main(void)
{
	test_cache();
	test_startup();
	test_literals();
	return test_done();
}
