/*
 * resolver: every name popgate looks up, over DNS-over-HTTPS (RFC 8484).
 *
 * Owns one thread that drives one libcurl multi handle: HTTP/2 only, one
 * multiplexed TLS connection per DoH server, POST (or GET) of
 * application/dns-message. It owns the answer cache (TTL floor and cap,
 * negative caching, serve-stale for a short window), the list of DoH servers
 * with their health (failover in configured order, back-off, reset of a
 * stalled connection) and the counters. Callers in any thread submit a
 * query and wait for it with a deadline; the cache is read in the caller's
 * thread. In mode = system it uses the C library instead (getaddrinfo,
 * res_nquery).
 *
 * It must never ask the system resolver for a DoH server's own name (the
 * bootstrap addresses serve that), never fall back to plain DNS in DoH
 * mode, never log the names it resolves, and never block a caller past its
 * deadline.
 *
 * Error strings returned through error_r stay valid until the calling
 * thread's next resolver call.
 */
#ifndef POPGATE_RESOLVER_H
#define POPGATE_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "dns-wire.h"

struct resolver;
struct resolver_query;

struct resolver_answer {
	int qtype;
	int rcode;                  /* DNS_R_NOERROR (count may be 0: NODATA) or DNS_R_NXDOMAIN */
	char *name;                 /* the question, canonical */
	char *canonical;            /* end of the CNAME chain */
	uint32_t ttl;               /* remaining seconds */
	int from_cache;
	int stale;                  /* served past its TTL because the servers failed */
	size_t count;
	struct dns_rr *rr;          /* CNAME chain first, then records of qtype */
};

struct resolver_stats {
	uint64_t queries;           /* lookups asked for by callers */
	uint64_t cache_hits;
	uint64_t stale_hits;
	uint64_t coalesced;         /* joined an identical lookup already in flight */
	uint64_t upstream_queries;  /* DoH requests sent */
	uint64_t upstream_failures; /* DoH requests that failed (status, type, timeout, ...) */
	uint64_t failures;          /* lookups that returned an error to the caller */
	uint64_t connections_opened;
	uint64_t connections_reused;/* DoH requests that went over an existing connection */
	uint64_t resets;            /* stalled connections dropped */
	uint64_t latency_ms_total;  /* over successful DoH requests */
	uint64_t latency_ms_max;
	uint64_t latency_count;
	int current;                /* index of the DoH server in use, -1 in system mode */
	const char *current_url;    /* borrowed from the config */
	size_t cache_entries;
};

/* Starts the resolver (and its thread in DoH mode). cf must outlive it. */
int resolver_new(const struct config *cf, struct resolver **r_r, const char **error_r);
/*
 * Stops the thread. Every lookup must have returned, and every submitted
 * query been waited for, before this is called.
 */
void resolver_free(struct resolver **rp);

/*
 * Addresses of host to connect to: AAAA and A asked concurrently, IPv6
 * first then IPv4, at most max, port filled in. IP literals and
 * "localhost" are answered without a query. Returns the count (>= 1), or -1
 * with error_r ("NXDOMAIN", "no address", "timeout", ...). timeout_ms <= 0
 * means the configured timeout.
 */
int resolver_addrs(struct resolver *r, const char *host, int port, struct sockaddr_storage *addrs,
    size_t max, int timeout_ms, const char **error_r);

/* resolver_addrs() with ctx a struct resolver *: the shape of net's resolver hook. */
int resolver_addrs_hook(void *ctx, const char *host, int port, struct sockaddr_storage *addrs,
    size_t max, int timeout_ms, const char **error_r);

/*
 * Looks up name/qtype (A, AAAA, CNAME, TXT, MX, PTR). Returns 0 with a new
 * answer for NOERROR (records or NODATA) and NXDOMAIN; -1 with error_r for
 * everything else (SERVFAIL, timeout, no server reachable, ...).
 */
int resolver_lookup(struct resolver *r, const char *name, int qtype, int timeout_ms,
    struct resolver_answer **ans_r, const char **error_r);
void resolver_answer_free(struct resolver_answer **ansp);

/*
 * The same in two steps, so one thread can have many lookups in flight:
 * submit never blocks; wait blocks until the answer or the deadline set at
 * submit, returns like resolver_lookup and frees the query.
 */
int resolver_submit(struct resolver *r, const char *name, int qtype, int timeout_ms,
    struct resolver_query **q_r, const char **error_r);
int resolver_wait(struct resolver_query **qp, struct resolver_answer **ans_r, const char **error_r);

void resolver_stats(struct resolver *r, struct resolver_stats *s_r);

#endif
