/*
 * net: resolution hook, listening and connecting with deadlines.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

#define NET_LISTEN_BACKLOG 128

static net_resolve_fn *net_resolver_fn;
static void *net_resolver_ctx;

/* Error text built on the fly lives here, one per thread. */
static __thread char net_errbuf[300];

void
net_set_resolver(net_resolve_fn *fn, void *ctx)
{
	net_resolver_fn = fn;
	net_resolver_ctx = ctx;
}

static int64_t
net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
net_literal(const char *host, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 1;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 1;
	}
	return 0;
}

static int
net_getaddrinfo(const char *host, int port, struct sockaddr_storage *addrs, size_t max,
    int flags, const char **error_r)
{
	struct addrinfo hints, *res, *ai;
	char service[16];
	size_t n = 0;
	int r;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags | AI_ADDRCONFIG;
	snprintf(service, sizeof service, "%d", port);
	if ((r = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(net_errbuf, sizeof net_errbuf, "cannot resolve %s: %s", host,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		*error_r = net_errbuf;
		return -1;
	}
	for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ai->ai_addrlen > sizeof addrs[n])
			continue;
		memset(&addrs[n], 0, sizeof addrs[n]);
		memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
		n++;
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(net_errbuf, sizeof net_errbuf, "cannot resolve %s: no address", host);
		*error_r = net_errbuf;
		return -1;
	}
	return (int)n;
}

int
net_resolve(const char *host, int port, struct sockaddr_storage *addrs, size_t max,
    int timeout_ms, const char **error_r)
{
	if (max == 0) {
		*error_r = "no room for addresses";
		return -1;
	}
	if (net_literal(host, port, &addrs[0]))
		return 1;
	if (net_resolver_fn != NULL)
		return net_resolver_fn(net_resolver_ctx, host, port, addrs, max, timeout_ms, error_r);
	return net_getaddrinfo(host, port, addrs, max, 0, error_r);
}

static socklen_t
net_sslen(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

const char *
net_addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	} else
		snprintf(buf, size, "(family %d)", ss->ss_family);
	return buf;
}

/*
 * Alternates address families, keeping the resolver's order within each
 * (RFC 8305 section 4), so one broken family costs one attempt, not all.
 */
static void
net_interleave(struct sockaddr_storage *addrs, size_t n)
{
	struct sockaddr_storage tmp[NET_MAX_ADDRS];
	int used[NET_MAX_ADDRS] = { 0 };
	size_t i, pick, out;
	int fam;

	if (n < 2 || n > NET_MAX_ADDRS)
		return;
	memcpy(tmp, addrs, n * sizeof *addrs);
	fam = tmp[0].ss_family;
	for (out = 0; out < n; out++) {
		pick = n;
		for (i = 0; i < n && pick == n; i++)
			if (!used[i] && tmp[i].ss_family == fam)
				pick = i;
		/* This family is used up: take the next unused. */
		for (i = 0; i < n && pick == n; i++)
			if (!used[i])
				pick = i;
		used[pick] = 1;
		addrs[out] = tmp[pick];
		fam = fam == AF_INET6 ? AF_INET : AF_INET6;
	}
}

/* One non-blocking connect within timeout_ms. Returns fd or -1 with errno. */
static int
net_connect_one(const struct sockaddr_storage *ss, int timeout_ms, int *timed_out)
{
	struct pollfd pfd;
	socklen_t len;
	int fd, r, err, saved;
	int64_t deadline = net_now_ms() + timeout_ms, left;

	*timed_out = 0;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, net_sslen(ss)) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	for (;;) {
		left = deadline - net_now_ms();
		if (left <= 0) {
			*timed_out = 1;
			errno = ETIMEDOUT;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0)
			continue;
		len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
		return fd;
	}
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
net_connect(const char *host, int port, int timeout_ms, struct net_attempts *att)
{
	struct net_attempts dummy;
	struct sockaddr_storage addrs[NET_MAX_ADDRS];
	const char *error;
	char abuf[64];
	int64_t deadline = net_now_ms() + timeout_ms, left;
	int n, i, fd, share, timed_out, ntimeout = 0;

	if (att == NULL)
		att = &dummy;
	memset(att, 0, sizeof *att);
	if (port <= 0 || port > 65535) {
		snprintf(att->error, sizeof att->error, "bad port %d", port);
		return -1;
	}
	n = net_resolve(host, port, addrs, NET_MAX_ADDRS, timeout_ms, &error);
	if (n <= 0) {
		att->dns_failed = 1;
		snprintf(att->error, sizeof att->error, "%s", n == 0 ? "no address" : error);
		return -1;
	}
	net_interleave(addrs, (size_t)n);
	for (i = 0; i < n; i++) {
		left = deadline - net_now_ms();
		if (left <= 0)
			break;
		/* Fair shares, so a black-holed first address leaves time for the rest. */
		share = (int)(left / (n - i));
		if (share < 1)
			share = 1;
		att->a[att->count].addr = addrs[i];
		fd = net_connect_one(&addrs[i], share, &timed_out);
		att->a[att->count].error = fd == -1 ? errno : 0;
		att->a[att->count].timed_out = timed_out;
		att->count++;
		if (fd != -1)
			return fd;
		ntimeout += timed_out;
	}
	if (att->count == 0)
		snprintf(att->error, sizeof att->error, "connect to %s port %d: timed out", host, port);
	else if (att->count == 1)
		snprintf(att->error, sizeof att->error, "connect to %s: %s",
		    net_addr_str(&att->a[0].addr, abuf, sizeof abuf), strerror(att->a[0].error));
	else
		snprintf(att->error, sizeof att->error,
		    "connect to %s port %d: %zu addresses failed (%d timed out), last %s: %s",
		    host, port, att->count, ntimeout,
		    net_addr_str(&att->a[att->count - 1].addr, abuf, sizeof abuf),
		    strerror(att->a[att->count - 1].error));
	return -1;
}

int
net_split_hostport(const char *s, char *host, size_t hostlen, int *port_r)
{
	const char *colon, *h = s, *end;
	size_t len;
	char *ep;
	long port;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		h = s + 1;
		len = (size_t)(end - h);
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;	/* bare IPv6 needs brackets */
		len = (size_t)(colon - s);
	}
	if (len >= hostlen)
		return -1;
	errno = 0;
	port = strtol(colon + 1, &ep, 10);
	if (colon[1] == '\0' || *ep != '\0' || errno != 0 || port < 0 || port > 65535)
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	if (strcmp(host, "*") == 0)
		host[0] = '\0';
	*port_r = (int)port;
	return 0;
}

int
net_listen(const char *hostport, int *fd_r, char *err, size_t errlen)
{
	struct sockaddr_storage addrs[NET_MAX_ADDRS];
	char host[256], abuf[64];
	const char *error = NULL;
	int port, n, i, fd = -1, one = 1, saved = 0;

	if (net_split_hostport(hostport, host, sizeof host, &port) == -1) {
		snprintf(err, errlen, "bad listen address \"%s\" (want host:port)", hostport);
		return -1;
	}
	if (host[0] == '\0')
		n = net_getaddrinfo(NULL, port, addrs, NET_MAX_ADDRS, AI_PASSIVE, &error);
	else if (net_literal(host, port, &addrs[0]))
		n = 1;
	else
		n = net_getaddrinfo(host, port, addrs, NET_MAX_ADDRS, AI_PASSIVE, &error);
	if (n <= 0) {
		snprintf(err, errlen, "%s", error);
		return -1;
	}
	/* For a wildcard prefer [::] (dual stack) when it is offered. */
	if (host[0] == '\0') {
		for (i = 0; i < n; i++) {
			if (addrs[i].ss_family == AF_INET6) {
				addrs[0] = addrs[i];
				break;
			}
		}
	}
	for (i = 0; i < n; i++) {
		fd = socket(addrs[i].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
		    bind(fd, (struct sockaddr *)&addrs[i], net_sslen(&addrs[i])) == 0 &&
		    listen(fd, NET_LISTEN_BACKLOG) == 0) {
			*fd_r = fd;
			return 0;
		}
		saved = errno;
		close(fd);
		fd = -1;
	}
	snprintf(err, errlen, "listen on %s: %s",
	    net_addr_str(&addrs[n - 1], abuf, sizeof abuf), strerror(saved));
	return -1;
}

int
net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return -1;
}
