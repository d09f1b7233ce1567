/*
 * resolver-doh: the resolver thread. It drives one libcurl multi handle in
 * which every DoH request is an HTTP/2 stream (CURLPIPE_MULTIPLEX, PIPEWAIT,
 * one connection per server), moves a query to the next server when one
 * fails, keeps each server's health, and drops every connection when one
 * server times out STALL_LIMIT times in a row: a half-open HTTP/2
 * connection looks alive to libcurl and would otherwise swallow every
 * query until restart.
 */
#include "resolver-int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define STALL_LIMIT 3
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define POLL_MAX_MS 1000
#define DEADLINE_GRACE_MS 100   /* let libcurl's own timeout fire first */
#define ATTEMPT_MIN_MS 500
#define MAX_STREAMS 256L

struct doh {
	CURLM *multi;
	struct curl_slist *resolve;
	struct curl_slist *post_headers, *get_headers;
	int wakefd;
	struct resolver_query *active;
	int reset_pending;
};

static __thread char errbuf[RESOLVER_ERR_MAX];
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURLM *
new_multi(void)
{
	CURLM *m = curl_multi_init();

	if (m == NULL)
		return NULL;
	curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	/* One connection per server; extra streams wait for a free slot. */
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
	curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, MAX_STREAMS);
	return m;
}

static void
active_add(struct doh *d, struct resolver_query *q)
{
	q->aprev = NULL;
	q->anext = d->active;
	if (d->active)
		d->active->aprev = q;
	d->active = q;
}

static void
active_remove(struct doh *d, struct resolver_query *q)
{
	if (q->aprev)
		q->aprev->anext = q->anext;
	else
		d->active = q->anext;
	if (q->anext)
		q->anext->aprev = q->aprev;
	q->aprev = q->anext = NULL;
}

static void
detach_easy(struct doh *d, struct resolver_query *q)
{
	if (q->easy == NULL)
		return;
	curl_multi_remove_handle(d->multi, q->easy);
	curl_easy_cleanup(q->easy);
	q->easy = NULL;
}

/* Sets st.current to the server new queries go to. With r->lock held. */
static void
update_current(struct resolver *r, int64_t now)
{
	int best = 0;

	for (size_t i = 0; i < r->nup; i++) {
		if (r->up[i].down_until <= now) {
			r->st.current = (int)i;
			return;
		}
		if (r->up[i].down_until < r->up[best].down_until)
			best = (int)i;
	}
	r->st.current = best;
}

/* Finishes q with reply (taken over) or error; drops the thread's reference. */
static void
complete(struct resolver *r, struct resolver_query *q, struct dns_reply *reply, const char *error)
{
	struct doh *d = r->d;

	detach_easy(d, q);
	active_remove(d, q);
	if (reply != NULL)
		rcache_put(r->cache, q->key, reply, resolver_now_ms());
	pthread_mutex_lock(&r->lock);
	q->done = 1;
	q->reply = reply;
	if (reply == NULL && error != q->error)
		snprintf(q->error, sizeof(q->error), "%s", error);
	if (q->fprev)
		q->fprev->fnext = q->fnext;
	else
		r->inflight = q->fnext;
	if (q->fnext)
		q->fnext->fprev = q->fprev;
	q->fprev = q->fnext = NULL;
	pthread_cond_broadcast(&q->cond);
	resolver_query_release(q);
	pthread_mutex_unlock(&r->lock);
}

static int
choose_upstream(struct resolver *r, struct resolver_query *q, int64_t now, int *left_r)
{
	int best = -1;

	*left_r = 0;
	for (size_t i = 0; i < r->nup; i++) {
		if (q->tried & (1u << i))
			continue;
		(*left_r)++;
		if (best == -1 || (r->up[best].down_until > now && r->up[i].down_until < r->up[best].down_until))
			best = (int)i;
	}
	return best;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resolver_query *q = arg;
	size_t len = size * n;

	if (q->body_len + len > DNS_WIRE_MAX) {
		q->body_too_big = 1;
		return 0;
	}
	if (q->body_len + len > q->body_cap) {
		size_t cap = q->body_cap ? q->body_cap : 1024;
		unsigned char *nb;

		while (cap < q->body_len + len)
			cap *= 2;
		if (cap > DNS_WIRE_MAX)
			cap = DNS_WIRE_MAX;
		if ((nb = realloc(q->body, cap)) == NULL)
			return 0;
		q->body = nb;
		q->body_cap = cap;
	}
	memcpy(q->body + q->body_len, p, len);
	q->body_len += len;
	return len;
}

static curl_socket_t
on_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct resolver *r = arg;
	int s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);

	(void)purpose;
	if (s == -1)
		return CURL_SOCKET_BAD;
	pthread_mutex_lock(&r->lock);
	r->st.connections_opened++;
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* RFC 4648 base64url without padding, as RFC 8484 GET wants. */
static char *
get_url(const char *base, const unsigned char *p, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t bl = strlen(base), o;
	char *out = malloc(bl + 6 + (len + 2) / 3 * 4 + 1);

	if (out == NULL)
		return NULL;
	memcpy(out, base, bl);
	o = bl;
	memcpy(out + o, strchr(base, '?') ? "&dns=" : "?dns=", 5);
	o += 5;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
		    (i + 2 < len ? p[i + 2] : 0);

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		if (i + 1 < len)
			out[o++] = tab[v >> 6 & 63];
		if (i + 2 < len)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
	return out;
}

static void
start_attempt(struct resolver *r, struct resolver_query *q)
{
	struct doh *d = r->d;
	const struct config *cf = r->cf;
	const char *err;
	int64_t now = resolver_now_ms(), remaining, attempt;
	int u, left, n;
	CURL *e;

	pthread_mutex_lock(&r->lock);
	remaining = q->deadline - now;
	pthread_mutex_unlock(&r->lock);
	if (remaining <= 0) {
		complete(r, q, NULL, q->error[0] ? q->error : "timeout");
		return;
	}
	u = choose_upstream(r, q, now, &left);
	if (u == -1 && q->transport_failed && !q->retried && remaining >= ATTEMPT_MIN_MS) {
		/*
		 * Every server was tried and the last one never answered (a
		 * connection closed under us, a timeout cut short by a later
		 * deadline): one more round while there is time.
		 */
		q->retried = 1;
		q->tried = 0;
		u = choose_upstream(r, q, now, &left);
	}
	if (u == -1) {
		complete(r, q, NULL, q->error[0] ? q->error : "no DoH server left to ask");
		return;
	}
	/* Leave time for the servers after this one. */
	attempt = remaining;
	if (left > 1) {
		attempt = remaining / left;
		if (attempt < ATTEMPT_MIN_MS)
			attempt = remaining < ATTEMPT_MIN_MS ? remaining : ATTEMPT_MIN_MS;
	}
	if (q->wire_len == 0) {
		/* Message id 0, as RFC 8484 4.1 recommends for HTTP caching. */
		if ((n = dns_wire_query(q->name, q->qtype, 0, q->wire, sizeof(q->wire), &err)) == -1) {
			complete(r, q, NULL, err);
			return;
		}
		q->wire_len = (size_t)n;
	}
	if ((e = curl_easy_init()) == NULL) {
		complete(r, q, NULL, "out of memory");
		return;
	}
	q->upstream = u;
	q->tried |= 1u << u;
	q->attempt_start = now;
	q->body_len = 0;
	q->body_too_big = 0;
	if (cf->dns_doh_get) {
		free(q->get_url);
		if ((q->get_url = get_url(r->up[u].url, q->wire, q->wire_len)) == NULL) {
			curl_easy_cleanup(e);
			complete(r, q, NULL, "out of memory");
			return;
		}
		curl_easy_setopt(e, CURLOPT_URL, q->get_url);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->get_headers);
	} else {
		curl_easy_setopt(e, CURLOPT_URL, r->up[u].url);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)q->wire);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)q->wire_len);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->post_headers);
	}
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)attempt);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)attempt);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");        /* never via *_proxy variables */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_RESOLVE, d->resolve);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cf->dns_ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, cf->dns_ca_file);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	q->curl_error[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->curl_error);
	if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		complete(r, q, NULL, "cannot start a DoH request");
		return;
	}
	q->easy = e;
	pthread_mutex_lock(&r->lock);
	r->st.upstream_queries++;
	pthread_mutex_unlock(&r->lock);
}

static int
content_type_ok(const char *ct)
{
	static const char want[] = "application/dns-message";
	size_t n = sizeof(want) - 1;

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void
upstream_result(struct resolver *r, int u, int ok, int timeout, int64_t latency)
{
	struct upstream *up = &r->up[u];
	int64_t now = resolver_now_ms();

	if (ok) {
		up->fails = 0;
		up->timeouts = 0;
		up->down_until = 0;
	} else {
		int shift = up->fails < 6 ? up->fails : 6;
		int64_t backoff = (int64_t)BACKOFF_MIN_MS << shift;

		up->fails++;
		up->down_until = now + (backoff > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff);
		if (timeout && ++up->timeouts >= STALL_LIMIT) {
			up->timeouts = 0;
			r->d->reset_pending = 1;
		} else if (!timeout) {
			up->timeouts = 0;
		}
	}
	pthread_mutex_lock(&r->lock);
	if (ok && latency >= 0) {
		r->st.latency_ms_total += (uint64_t)latency;
		r->st.latency_count++;
		if ((uint64_t)latency > r->st.latency_ms_max)
			r->st.latency_ms_max = (uint64_t)latency;
	}
	if (!ok)
		r->st.upstream_failures++;
	update_current(r, now);
	pthread_mutex_unlock(&r->lock);
}

static void
on_done(struct resolver *r, CURL *e, CURLcode res)
{
	struct resolver_query *q = NULL;
	struct dns_reply *reply = NULL;
	const char *err = NULL;
	char *ct = NULL;
	long status = 0, version = 0, connects = 0;
	int timeout = 0, answered = 0, u;
	int64_t latency;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&q);
	u = q->upstream;
	latency = resolver_now_ms() - q->attempt_start;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);

	if (res == CURLE_OPERATION_TIMEDOUT) {
		err = "timeout";
		timeout = 1;
	} else if (res == CURLE_WRITE_ERROR && q->body_too_big) {
		err = "reply too large";
	} else if (res != CURLE_OK) {
		err = q->curl_error[0] ? q->curl_error : curl_easy_strerror(res);
	} else if (version != CURL_HTTP_VERSION_2_0) {
		err = "DoH server did not speak HTTP/2";
	} else if (status != 200) {
		snprintf(q->error, sizeof(q->error), "HTTP %ld", status);
	} else if (!content_type_ok(ct)) {
		err = "DoH reply is not application/dns-message";
	} else if (dns_wire_reply(q->body, q->body_len, q->name, q->qtype, 0, &reply, &err) == 0) {
		answered = 1;
		if (reply->rcode != DNS_R_NOERROR && reply->rcode != DNS_R_NXDOMAIN) {
			err = dns_wire_rcode_name(reply->rcode);
			dns_reply_free(&reply);
		}
	}
	if (res == CURLE_OK && connects == 0) {
		pthread_mutex_lock(&r->lock);
		r->st.connections_reused++;
		pthread_mutex_unlock(&r->lock);
	}
	detach_easy(r->d, q);
	if (reply != NULL) {
		upstream_result(r, u, 1, 0, latency);
		complete(r, q, reply, NULL);
		return;
	}
	if (err != NULL)
		snprintf(q->error, sizeof(q->error), "%s", err);
	q->transport_failed = status == 0;
	/* A server that answered SERVFAIL works; the next one may know better. */
	upstream_result(r, u, answered, timeout, answered ? latency : -1);
	start_attempt(r, q);    /* the next server, or the end */
}

/* Drops every connection: the only sure way out of a half-open one. */
static void
reset_connections(struct resolver *r)
{
	struct doh *d = r->d;
	struct resolver_query *q, *restart = NULL, *next;

	for (q = d->active; q != NULL; q = next) {
		next = q->anext;
		if (q->easy != NULL) {
			detach_easy(d, q);
			q->tried &= ~(1u << q->upstream);
			active_remove(d, q);
			q->anext = restart;
			restart = q;
		}
	}
	curl_multi_cleanup(d->multi);
	d->multi = new_multi();
	pthread_mutex_lock(&r->lock);
	r->st.resets++;
	pthread_mutex_unlock(&r->lock);
	for (q = restart; q != NULL; q = next) {
		next = q->anext;
		active_add(d, q);
		if (d->multi == NULL)
			complete(r, q, NULL, "out of memory");
		else
			start_attempt(r, q);
	}
}

static void
expire(struct resolver *r)
{
	struct resolver_query *q, *next;
	int64_t now = resolver_now_ms();

	for (q = r->d->active; q != NULL; q = next) {
		int64_t dl;

		next = q->anext;
		pthread_mutex_lock(&r->lock);
		dl = q->deadline;
		pthread_mutex_unlock(&r->lock);
		if (now >= dl + DEADLINE_GRACE_MS)
			complete(r, q, NULL, "timeout");
	}
}

static void *
thread_main(void *arg)
{
	struct resolver *r = arg;
	struct doh *d = r->d;
	struct resolver_query *take, *next;
	struct curl_waitfd wfd;
	CURLMsg *msg;
	int running, left;
	long to;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		if (r->stopping) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		take = r->submit_head;
		r->submit_head = r->submit_tail = NULL;
		pthread_mutex_unlock(&r->lock);
		for (; take != NULL; take = next) {
			next = take->qnext;
			take->qnext = NULL;
			active_add(d, take);
			start_attempt(r, take);
		}
		curl_multi_perform(d->multi, &running);
		while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
			if (msg->msg == CURLMSG_DONE)
				on_done(r, msg->easy_handle, msg->data.result);
		}
		if (d->reset_pending) {
			d->reset_pending = 0;
			reset_connections(r);
			curl_multi_perform(d->multi, &running);
		}
		expire(r);
		if (curl_multi_timeout(d->multi, &to) != CURLM_OK || to < 0 || to > POLL_MAX_MS)
			to = POLL_MAX_MS;
		wfd.fd = d->wakefd;
		wfd.events = CURL_WAIT_POLLIN;
		wfd.revents = 0;
		curl_multi_poll(d->multi, &wfd, 1, (int)to, NULL);
		if (wfd.revents != 0) {
			uint64_t v;

			if (read(d->wakefd, &v, sizeof(v)) == -1 && errno != EAGAIN) {
				/* nothing to do: the counter is only a wake-up */
			}
		}
	}

	/* Shutting down: fail whatever is left. */
	while (d->active != NULL)
		complete(r, d->active, NULL, "shutting down");
	pthread_mutex_lock(&r->lock);
	take = r->submit_head;
	r->submit_head = r->submit_tail = NULL;
	pthread_mutex_unlock(&r->lock);
	for (; take != NULL; take = next) {
		next = take->qnext;
		active_add(d, take);
		complete(r, take, NULL, "shutting down");
	}
	return NULL;
}

void
resolver_doh_wake(struct resolver *r)
{
	uint64_t one = 1;

	if (write(r->d->wakefd, &one, sizeof(one)) == -1) {
		/* EAGAIN: the counter is already set, the thread will wake */
	}
}

static void
doh_free(struct doh **dp)
{
	struct doh *d = *dp;

	if (d == NULL)
		return;
	if (d->multi)
		curl_multi_cleanup(d->multi);
	curl_slist_free_all(d->resolve);
	curl_slist_free_all(d->post_headers);
	curl_slist_free_all(d->get_headers);
	if (d->wakefd != -1)
		close(d->wakefd);
	free(d);
	*dp = NULL;
}

int
resolver_doh_start(struct resolver *r, const char **error_r)
{
	const struct config *cf = r->cf;
	struct doh *d;
	struct curl_slist *t;
	curl_version_info_data *vi;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		*error_r = "cannot initialise libcurl";
		return -1;
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (!(vi->features & CURL_VERSION_HTTP2)) {
		*error_r = "libcurl has no HTTP/2 support: DoH needs it";
		return -1;
	}
	if (cf->doh_url_count == 0) {
		*error_r = "[dns] mode = doh needs a doh_url";
		return -1;
	}
	for (size_t i = 0; i < cf->doh_url_count && i < CONFIG_MAX_DOH; i++) {
		if (config_doh_bootstrap_check(cf, cf->doh_url[i], errbuf, sizeof(errbuf)) == -1) {
			*error_r = errbuf;
			return -1;
		}
		r->up[i].url = cf->doh_url[i];
		r->nup++;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->d = d;
	if (d->wakefd == -1 || (d->multi = new_multi()) == NULL)
		goto nomem;
	for (size_t i = 0; i < cf->dns_bootstrap_count; i++) {
		if ((t = curl_slist_append(d->resolve, cf->dns_bootstrap[i])) == NULL)
			goto nomem;
		d->resolve = t;
	}
	if ((t = curl_slist_append(NULL, "Content-Type: application/dns-message")) == NULL)
		goto nomem;
	d->post_headers = t;
	if ((t = curl_slist_append(d->post_headers, "Accept: application/dns-message")) == NULL)
		goto nomem;
	if ((d->get_headers = curl_slist_append(NULL, "Accept: application/dns-message")) == NULL)
		goto nomem;
	r->st.current = 0;
	if (pthread_create(&r->thread, NULL, thread_main, r) != 0) {
		*error_r = "cannot start the resolver thread";
		doh_free(&r->d);
		return -1;
	}
	r->thread_started = 1;
	return 0;
nomem:
	*error_r = "cannot set up the resolver (out of memory or file descriptors)";
	doh_free(&r->d);
	return -1;
}

void
resolver_doh_stop(struct resolver *r)
{
	if (r->thread_started) {
		pthread_mutex_lock(&r->lock);
		r->stopping = 1;
		pthread_mutex_unlock(&r->lock);
		resolver_doh_wake(r);
		pthread_join(r->thread, NULL);
		r->thread_started = 0;
	}
	doh_free(&r->d);
}
