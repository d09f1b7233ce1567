/*
 * resolver-cache: answers by "qtype/name", bounded by count (least recently
 * used goes first), with TTLs clamped between a floor and a cap, negative
 * answers kept for their RFC 2308 TTL, and expired entries kept a little
 * longer so they can be served stale when every server fails.
 */
#include "resolver-int.h"

#include <stdlib.h>
#include <string.h>

struct centry {
	char *key;
	uint32_t hash;
	struct dns_reply *rep;
	int64_t expires, stale_until;
	struct centry *hnext;
	struct centry *lprev, *lnext;   /* lprev towards the most recent */
};

struct rcache {
	pthread_mutex_t lock;
	size_t max, count, nbuckets;
	struct centry **buckets;
	struct centry *head, *tail;     /* head: most recently used */
};

static uint32_t
hash_key(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct rcache *
rcache_new(size_t max)
{
	struct rcache *c;

	if (max == 0)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->max = max;
	c->nbuckets = 64;
	while (c->nbuckets < max && c->nbuckets < (1u << 20))
		c->nbuckets <<= 1;
	if ((c->buckets = calloc(c->nbuckets, sizeof(*c->buckets))) == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void
lru_unlink(struct rcache *c, struct centry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
lru_push(struct rcache *c, struct centry *e)
{
	e->lprev = NULL;
	e->lnext = c->head;
	if (c->head)
		c->head->lprev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
entry_remove(struct rcache *c, struct centry *e)
{
	struct centry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	dns_reply_free(&e->rep);
	free(e->key);
	free(e);
	c->count--;
}

static struct centry *
find(struct rcache *c, const char *key, uint32_t h)
{
	struct centry *e;

	for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

void
rcache_free(struct rcache **cp)
{
	struct rcache *c = *cp;

	if (c == NULL)
		return;
	while (c->head != NULL)
		entry_remove(c, c->head);
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c);
	*cp = NULL;
}

int
rcache_get(struct rcache *c, const char *key, int64_t now, int stale_ok,
    struct dns_reply **rep_r, uint32_t *ttl_r, int *stale_r)
{
	uint32_t h = hash_key(key);
	struct centry *e;
	int found = 0;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	if ((e = find(c, key, h)) != NULL) {
		if (now >= e->stale_until) {
			entry_remove(c, e);
		} else if (now < e->expires || stale_ok) {
			if ((*rep_r = dns_reply_dup(e->rep)) != NULL) {
				found = 1;
				*stale_r = now >= e->expires;
				*ttl_r = *stale_r ? RCACHE_STALE_TTL :
				    (uint32_t)((e->expires - now + 999) / 1000);
				lru_unlink(c, e);
				lru_push(c, e);
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void
rcache_put(struct rcache *c, const char *key, const struct dns_reply *rep, int64_t now)
{
	uint32_t h = hash_key(key), ttl;
	struct centry *e;
	int negative;

	if (c == NULL || !rep->has_ttl)
		return;
	negative = rep->rcode == DNS_R_NXDOMAIN || rep->count == 0 ||
	    rep->rr[rep->count - 1].type == DNS_T_CNAME;
	ttl = rep->ttl;
	if (ttl < RCACHE_TTL_FLOOR)
		ttl = RCACHE_TTL_FLOOR;
	if (ttl > (negative ? RCACHE_NEG_CAP : RCACHE_TTL_CAP))
		ttl = negative ? RCACHE_NEG_CAP : RCACHE_TTL_CAP;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	if ((e->key = strdup(key)) == NULL || (e->rep = dns_reply_dup(rep)) == NULL) {
		free(e->key);
		free(e);
		return;
	}
	e->hash = h;
	e->expires = now + (int64_t)ttl * 1000;
	e->stale_until = e->expires + RCACHE_STALE_WINDOW * 1000;
	pthread_mutex_lock(&c->lock);
	{
		struct centry *old = find(c, key, h);

		if (old != NULL)
			entry_remove(c, old);
	}
	while (c->count >= c->max && c->tail != NULL)
		entry_remove(c, c->tail);
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	lru_push(c, e);
	c->count++;
	pthread_mutex_unlock(&c->lock);
}

size_t
rcache_count(struct rcache *c)
{
	size_t n;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}
