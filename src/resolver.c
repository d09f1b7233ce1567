/*
 * resolver: the caller side. Lookups check the cache in the caller's thread,
 * join an identical lookup already in flight or queue a new one for the
 * DoH thread, then wait on the query's condition variable until it is done
 * or the deadline passes. In system mode everything happens right here with
 * the C library.
 */
#include "resolver-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static __thread char errbuf[RESOLVER_ERR_MAX];

static const char *
set_error(const char *msg)
{
	snprintf(errbuf, sizeof(errbuf), "%s", msg);
	return errbuf;
}

int64_t
resolver_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
resolver_new(const struct config *cf, struct resolver **r_r, const char **error_r)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	r->cf = cf;
	pthread_mutex_init(&r->lock, NULL);
	r->st.current = -1;
	if (cf->dns_mode == DNS_MODE_DOH) {
		r->doh = 1;
		r->cache = rcache_new((size_t)cf->dns_cache_size);
		if (resolver_doh_start(r, error_r) == -1) {
			resolver_free(&r);
			return -1;
		}
	}
	*r_r = r;
	return 0;
}

void
resolver_free(struct resolver **rp)
{
	struct resolver *r = *rp;

	if (r == NULL)
		return;
	if (r->doh)
		resolver_doh_stop(r);
	rcache_free(&r->cache);
	pthread_mutex_destroy(&r->lock);
	free(r);
	*rp = NULL;
}

void
resolver_stats(struct resolver *r, struct resolver_stats *s_r)
{
	pthread_mutex_lock(&r->lock);
	*s_r = r->st;
	pthread_mutex_unlock(&r->lock);
	s_r->cache_entries = rcache_count(r->cache);
	if (s_r->current >= 0)
		s_r->current_url = r->cf->doh_url[s_r->current];
}

static void
stat_add(struct resolver *r, uint64_t *counter)
{
	pthread_mutex_lock(&r->lock);
	(*counter)++;
	pthread_mutex_unlock(&r->lock);
}

void
resolver_answer_free(struct resolver_answer **ansp)
{
	struct resolver_answer *a = *ansp;

	if (a == NULL)
		return;
	for (size_t i = 0; i < a->count; i++) {
		free(a->rr[i].owner);
		free(a->rr[i].text);
	}
	free(a->rr);
	free(a->name);
	free(a->canonical);
	free(a);
	*ansp = NULL;
}

/* Takes rep over. */
static struct resolver_answer *
answer_from(const char *name, int qtype, struct dns_reply *rep, uint32_t ttl, int cached, int stale)
{
	struct resolver_answer *a = calloc(1, sizeof(*a));

	if (a == NULL || (a->name = strdup(name)) == NULL) {
		free(a);
		dns_reply_free(&rep);
		return NULL;
	}
	a->qtype = qtype;
	a->rcode = rep->rcode;
	a->canonical = rep->name;
	a->ttl = ttl;
	a->from_cache = cached;
	a->stale = stale;
	a->count = rep->count;
	a->rr = rep->rr;
	for (size_t i = 0; cached && i < a->count; i++)
		if (stale || a->rr[i].ttl > ttl)
			a->rr[i].ttl = ttl;
	free(rep);
	return a;
}

static int
qtype_ok(int qtype)
{
	switch (qtype) {
	case DNS_T_A: case DNS_T_AAAA: case DNS_T_CNAME: case DNS_T_TXT: case DNS_T_MX: case DNS_T_PTR:
	case DNS_T_NS:
		return 1;
	}
	return 0;
}

/* System mode: the C library's stub resolver, decoded by dns-wire. */
static int
system_lookup(struct resolver *r, const char *name, int qtype, int timeout_ms,
    struct resolver_answer **ans_r, const char **error_r)
{
	struct __res_state rs;
	unsigned char *buf;
	struct dns_reply *rep = NULL;
	const char *err;
	int n, herr;

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) == -1) {
		*error_r = set_error("cannot read the system resolver configuration");
		return -1;
	}
	rs.retrans = timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1;
	rs.retry = 1;
	if ((buf = malloc(DNS_WIRE_MAX)) == NULL) {
		res_nclose(&rs);
		*error_r = set_error("out of memory");
		return -1;
	}
	n = res_nquery(&rs, name, 1, qtype, buf, DNS_WIRE_MAX);
	herr = rs.res_h_errno;
	res_nclose(&rs);
	if (n < 0 && herr != HOST_NOT_FOUND && herr != NO_DATA) {
		free(buf);
		*error_r = set_error(herr == TRY_AGAIN ? "SERVFAIL or timeout" : "lookup failed");
		return -1;
	}
	if (n < 0) {
		/* glibc leaves no usable reply here: build the negative answer. */
		free(buf);
		if ((rep = calloc(1, sizeof(*rep))) == NULL || (rep->name = strdup(name)) == NULL) {
			free(rep);
			*error_r = set_error("out of memory");
			return -1;
		}
		rep->rcode = herr == HOST_NOT_FOUND ? DNS_R_NXDOMAIN : DNS_R_NOERROR;
	} else {
		if (dns_wire_reply(buf, (size_t)n, name, qtype, (uint16_t)(buf[0] << 8 | buf[1]), &rep, &err) == -1) {
			free(buf);
			*error_r = set_error(err);
			return -1;
		}
		free(buf);
		if (rep->rcode != DNS_R_NOERROR && rep->rcode != DNS_R_NXDOMAIN) {
			*error_r = set_error(dns_wire_rcode_name(rep->rcode));
			dns_reply_free(&rep);
			return -1;
		}
	}
	if ((*ans_r = answer_from(name, qtype, rep, rep->ttl, 0, 0)) == NULL) {
		*error_r = set_error("out of memory");
		return -1;
	}
	(void)r;
	return 0;
}

static void
query_free(struct resolver_query *q)
{
	dns_reply_free(&q->reply);
	pthread_cond_destroy(&q->cond);
	free(q->body);
	free(q->get_url);
	free(q);
}

/* With r->lock held. */
void
resolver_query_release(struct resolver_query *q)
{
	if (--q->refs == 0)
		query_free(q);
}

int
resolver_submit(struct resolver *r, const char *name, int qtype, int timeout_ms,
    struct resolver_query **q_r, const char **error_r)
{
	struct resolver_query *q, *f;
	pthread_condattr_t ca;
	char canon[DNS_NAME_MAX];
	const char *err;
	int64_t now = resolver_now_ms(), deadline;

	if (timeout_ms <= 0)
		timeout_ms = r->cf->dns_timeout_ms;
	deadline = now + timeout_ms;
	if (dns_wire_name_canon(name, canon, sizeof(canon), &err) == -1) {
		*error_r = set_error(err);
		return -1;
	}
	if (!qtype_ok(qtype)) {
		*error_r = set_error("unsupported query type");
		return -1;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		*error_r = set_error("out of memory");
		return -1;
	}
	memcpy(q->name, canon, sizeof(canon));
	snprintf(q->key, sizeof(q->key), "%d/%s", qtype, canon);
	q->r = r;
	q->qtype = qtype;
	q->deadline = deadline;
	q->refs = 1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	stat_add(r, &r->st.queries);

	if (!r->doh) {
		struct resolver_answer *a = NULL;

		/* Done right away; wait() hands out the result. */
		q->done = 1;
		if (system_lookup(r, canon, qtype, timeout_ms, &a, &err) == -1) {
			snprintf(q->error, sizeof(q->error), "%s", err);
		} else {
			q->reply = calloc(1, sizeof(*q->reply));
			if (q->reply != NULL) {
				q->reply->rcode = a->rcode;
				q->reply->name = a->canonical;
				q->reply->count = a->count;
				q->reply->rr = a->rr;
				q->reply->ttl = a->ttl;
				a->canonical = NULL;
				a->rr = NULL;
				a->count = 0;
			}
			resolver_answer_free(&a);
		}
		*q_r = q;
		return 0;
	}

	{
		struct dns_reply *rep;
		uint32_t ttl;
		int stale;

		if (rcache_get(r->cache, q->key, now, 0, &rep, &ttl, &stale)) {
			q->done = 1;
			q->reply = rep;
			q->reply->ttl = ttl;
			q->from_cache = 1;
			stat_add(r, &r->st.cache_hits);
			*q_r = q;
			return 0;
		}
	}

	pthread_mutex_lock(&r->lock);
	if (r->stopping) {
		pthread_mutex_unlock(&r->lock);
		query_free(q);
		*error_r = set_error("shutting down");
		return -1;
	}
	for (f = r->inflight; f != NULL; f = f->fnext) {
		if (f->qtype == qtype && strcmp(f->key, q->key) == 0) {
			f->refs++;
			if (deadline > f->deadline)
				f->deadline = deadline;
			r->st.coalesced++;
			pthread_mutex_unlock(&r->lock);
			query_free(q);
			*q_r = f;
			return 0;
		}
	}
	q->refs = 2;    /* the caller and the thread */
	q->fnext = r->inflight;
	if (r->inflight)
		r->inflight->fprev = q;
	r->inflight = q;
	if (r->submit_tail)
		r->submit_tail->qnext = q;
	else
		r->submit_head = q;
	r->submit_tail = q;
	pthread_mutex_unlock(&r->lock);
	resolver_doh_wake(r);
	*q_r = q;
	return 0;
}

int
resolver_wait(struct resolver_query **qp, struct resolver_answer **ans_r, const char **error_r)
{
	struct resolver_query *q = *qp;
	struct resolver *r = q->r;
	struct dns_reply *rep = NULL;
	struct timespec ts;
	char error[RESOLVER_ERR_MAX] = "", key[sizeof(q->key)], name[DNS_NAME_MAX];
	int cached = 0, stale = 0, qtype = q->qtype;
	uint32_t ttl = 0;

	*qp = NULL;
	memcpy(key, q->key, sizeof(key));
	memcpy(name, q->name, sizeof(name));
	pthread_mutex_lock(&r->lock);
	while (!q->done) {
		int64_t dl = q->deadline;

		ts.tv_sec = dl / 1000;
		ts.tv_nsec = (long)(dl % 1000) * 1000000;
		if (pthread_cond_timedwait(&q->cond, &r->lock, &ts) == ETIMEDOUT && !q->done &&
		    resolver_now_ms() >= q->deadline)
			break;
	}
	if (q->done && q->reply != NULL) {
		rep = dns_reply_dup(q->reply);
		cached = q->from_cache;
		ttl = q->reply->ttl;
		if (rep == NULL)
			snprintf(error, sizeof(error), "out of memory");
	} else if (q->done) {
		snprintf(error, sizeof(error), "%s", q->error);
	} else {
		snprintf(error, sizeof(error), "timeout");
	}
	resolver_query_release(q);
	pthread_mutex_unlock(&r->lock);

	/* Every server failed: an answer just past its TTL beats none. */
	if (rep == NULL && r->doh &&
	    rcache_get(r->cache, key, resolver_now_ms(), 1, &rep, &ttl, &stale)) {
		cached = 1;
		stat_add(r, &r->st.stale_hits);
	}
	if (rep == NULL) {
		stat_add(r, &r->st.failures);
		*error_r = set_error(error);
		return -1;
	}
	if ((*ans_r = answer_from(name, qtype, rep, ttl, cached, stale)) == NULL) {
		*error_r = set_error("out of memory");
		return -1;
	}
	return 0;
}

int
resolver_lookup(struct resolver *r, const char *name, int qtype, int timeout_ms,
    struct resolver_answer **ans_r, const char **error_r)
{
	struct resolver_query *q;

	if (resolver_submit(r, name, qtype, timeout_ms, &q, error_r) == -1)
		return -1;
	return resolver_wait(&q, ans_r, error_r);
}

/* IP literals and localhost never reach a server. */
static int
literal_addrs(const char *host, int port, struct sockaddr_storage *addrs, size_t max)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = 0, len = strlen(host);

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
		host = buf;
	}
	if (max == 0)
		return -1;
	memset(addrs, 0, sizeof(*addrs) * max);
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		sin6 = (struct sockaddr_in6 *)&addrs[0];
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = a6;
		sin6->sin6_port = htons((uint16_t)port);
		return 1;
	}
	if (inet_pton(AF_INET, host, &a4) == 1) {
		sin = (struct sockaddr_in *)&addrs[0];
		sin->sin_family = AF_INET;
		sin->sin_addr = a4;
		sin->sin_port = htons((uint16_t)port);
		return 1;
	}
	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
		sin6 = (struct sockaddr_in6 *)&addrs[n++];
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons((uint16_t)port);
		if (n < max) {
			sin = (struct sockaddr_in *)&addrs[n++];
			sin->sin_family = AF_INET;
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			sin->sin_port = htons((uint16_t)port);
		}
		return (int)n;
	}
	return -1;
}

static int
system_addrs(const char *host, int port, struct sockaddr_storage *addrs, size_t max,
    const char **error_r)
{
	struct addrinfo hints, *res, *ai;
	size_t n = 0;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		*error_r = set_error(rc == EAI_NONAME ? "NXDOMAIN" : gai_strerror(rc));
		return -1;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
			if (ai->ai_family != (pass == 0 ? AF_INET6 : AF_INET))
				continue;
			memset(&addrs[n], 0, sizeof(addrs[n]));
			memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
			if (ai->ai_family == AF_INET6)
				((struct sockaddr_in6 *)&addrs[n])->sin6_port = htons((uint16_t)port);
			else
				((struct sockaddr_in *)&addrs[n])->sin_port = htons((uint16_t)port);
			n++;
		}
	}
	freeaddrinfo(res);
	if (n == 0) {
		*error_r = set_error("no address");
		return -1;
	}
	return (int)n;
}

int
resolver_addrs(struct resolver *r, const char *host, int port, struct sockaddr_storage *addrs,
    size_t max, int timeout_ms, const char **error_r)
{
	struct resolver_query *q6 = NULL, *q4 = NULL;
	struct resolver_answer *a6 = NULL, *a4 = NULL;
	const char *err6 = NULL, *err4 = NULL;
	char e6[RESOLVER_ERR_MAX] = "";
	size_t n = 0;
	int rc6, rc4, n_lit;

	if ((n_lit = literal_addrs(host, port, addrs, max)) > 0)
		return n_lit;
	if (max == 0) {
		*error_r = set_error("no room for addresses");
		return -1;
	}
	if (!r->doh)
		return system_addrs(host, port, addrs, max, error_r);
	if (resolver_submit(r, host, DNS_T_AAAA, timeout_ms, &q6, error_r) == -1)
		return -1;
	if (resolver_submit(r, host, DNS_T_A, timeout_ms, &q4, &err4) == -1) {
		rc6 = resolver_wait(&q6, &a6, error_r);
		resolver_answer_free(&a6);
		*error_r = set_error(err4);
		return -1;
	}
	rc6 = resolver_wait(&q6, &a6, &err6);
	if (rc6 == -1)
		snprintf(e6, sizeof(e6), "%s", err6);
	rc4 = resolver_wait(&q4, &a4, &err4);
	for (int pass = 0; pass < 2; pass++) {
		struct resolver_answer *a = pass == 0 ? a6 : a4;

		for (size_t i = 0; a != NULL && i < a->count && n < max; i++) {
			struct dns_rr *rr = &a->rr[i];

			memset(&addrs[n], 0, sizeof(addrs[n]));
			if (rr->type == DNS_T_AAAA) {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addrs[n++];

				sin6->sin6_family = AF_INET6;
				memcpy(&sin6->sin6_addr, rr->addr, 16);
				sin6->sin6_port = htons((uint16_t)port);
			} else if (rr->type == DNS_T_A) {
				struct sockaddr_in *sin = (struct sockaddr_in *)&addrs[n++];

				sin->sin_family = AF_INET;
				memcpy(&sin->sin_addr, rr->addr, 4);
				sin->sin_port = htons((uint16_t)port);
			}
		}
	}
	if (n == 0) {
		if (rc6 == 0 && rc4 == 0)
			*error_r = set_error(a4->rcode == DNS_R_NXDOMAIN || a6->rcode == DNS_R_NXDOMAIN ?
			    "NXDOMAIN" : "no address");
		else
			*error_r = set_error(rc4 == -1 ? err4 : e6);
	}
	resolver_answer_free(&a6);
	resolver_answer_free(&a4);
	return n > 0 ? (int)n : -1;
}

int
resolver_addrs_hook(void *ctx, const char *host, int port, struct sockaddr_storage *addrs,
    size_t max, int timeout_ms, const char **error_r)
{
	return resolver_addrs(ctx, host, port, addrs, max, timeout_ms, error_r);
}
