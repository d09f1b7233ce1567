/*
 * resolver internals shared by resolver.c (the caller side), resolver-doh.c
 * (the thread and libcurl) and resolver-cache.c. Nothing outside the
 * resolver module includes this file.
 */
#ifndef POPGATE_RESOLVER_INT_H
#define POPGATE_RESOLVER_INT_H

#include <pthread.h>
#include <stdint.h>

#include "resolver.h"

#define RESOLVER_ERR_MAX 200

/* Cache bounds (seconds). */
#define RCACHE_TTL_FLOOR 5
#define RCACHE_TTL_CAP 86400
#define RCACHE_NEG_CAP 900
#define RCACHE_STALE_WINDOW 300     /* how long past its TTL an entry may be served */
#define RCACHE_STALE_TTL 30         /* TTL shown for a stale answer (RFC 8767) */

struct rcache;
struct doh;

struct rcache *rcache_new(size_t max);
void rcache_free(struct rcache **cp);
/*
 * Copies the entry for key into *rep_r. Fresh entries only, or with
 * stale_ok also entries up to RCACHE_STALE_WINDOW past their TTL.
 * Returns 1 if found (and sets ttl_r and stale_r), 0 if not.
 */
int rcache_get(struct rcache *c, const char *key, int64_t now_ms, int stale_ok,
    struct dns_reply **rep_r, uint32_t *ttl_r, int *stale_r);
/* Stores a copy of rep if it carries a TTL. */
void rcache_put(struct rcache *c, const char *key, const struct dns_reply *rep, int64_t now_ms);
size_t rcache_count(struct rcache *c);

int64_t resolver_now_ms(void);

/* One lookup in flight, shared by every caller waiting for it. */
struct resolver_query {
	struct resolver *r;
	char name[DNS_NAME_MAX];
	char key[DNS_NAME_MAX + 8];
	int qtype;
	/* Under r->lock: */
	int64_t deadline;           /* monotonic ms; the latest of all waiters */
	int refs;                   /* waiters + 1 while the thread holds it */
	int done;
	int from_cache;
	struct dns_reply *reply;    /* when done without error */
	char error[RESOLVER_ERR_MAX];
	pthread_cond_t cond;
	struct resolver_query *qnext;           /* submit queue */
	struct resolver_query *fprev, *fnext;   /* in-flight list (coalescing) */
	/* Owned by the resolver thread: */
	struct resolver_query *aprev, *anext;   /* active list */
	void *easy;                 /* CURL * of the current attempt */
	int upstream;               /* of the current attempt */
	unsigned tried;             /* bit per upstream */
	int retried;                /* one more round after transport failures */
	int transport_failed;       /* the last attempt got no HTTP response */
	int64_t attempt_start;
	unsigned char wire[512];
	size_t wire_len;
	unsigned char *body;
	size_t body_len, body_cap;
	int body_too_big;
	char curl_error[256];       /* CURL_ERROR_SIZE */
	char *get_url;
};

struct upstream {
	const char *url;            /* borrowed from the config */
	int fails;                  /* in a row */
	int timeouts;               /* in a row, for stall detection */
	int64_t down_until;
};

struct resolver {
	const struct config *cf;
	struct rcache *cache;
	pthread_mutex_t lock;
	struct resolver_stats st;
	/* DoH only. */
	int doh;
	pthread_t thread;
	int thread_started;
	int stopping;
	struct resolver_query *submit_head, *submit_tail;
	struct resolver_query *inflight;
	struct doh *d;              /* libcurl state, owned by the thread */
	struct upstream up[CONFIG_MAX_DOH];    /* thread only */
	size_t nup;
};

/* resolver-doh.c */
int resolver_doh_start(struct resolver *r, const char **error_r);
void resolver_doh_stop(struct resolver *r);
void resolver_doh_wake(struct resolver *r);
/* Called with r->lock held: the thread finished q (drops its reference). */
void resolver_query_release(struct resolver_query *q);

#endif
