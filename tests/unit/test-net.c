/*
 * net on loopback: host:port parsing, listening, connecting through the
 * resolver hook with fallback from a refused and a black-holed address,
 * and DNS failures kept apart from connect failures.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "test.h"

static struct sockaddr_storage hook_addrs[4];
static int hook_n;
static int hook_calls;

static int
hook(void *ctx, const char *host, int port, struct sockaddr_storage *addrs, size_t max,
    int timeout_ms, const char **error_r)
{
	int i;

	hook_calls++;
	if (hook_n <= 0) {
		*error_r = "NXDOMAIN";
		return -1;
	}
	for (i = 0; i < hook_n && (size_t)i < max; i++)
		addrs[i] = hook_addrs[i];
	return i;
}

static void
addr4(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof *ss);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
}

static void
addr6(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, ip, &sin6->sin6_addr);
}

static void
test_split(void)
{
	char host[64];
	int port, r;

	r = net_split_hostport("127.0.0.1:110", host, sizeof host, &port);
	CHECK(r == 0 && strcmp(host, "127.0.0.1") == 0 && port == 110, "IPv4 host:port");
	r = net_split_hostport("[::1]:995", host, sizeof host, &port);
	CHECK(r == 0 && strcmp(host, "::1") == 0 && port == 995, "[IPv6]:port");
	r = net_split_hostport("pop.example.org:1110", host, sizeof host, &port);
	CHECK(r == 0 && strcmp(host, "pop.example.org") == 0 && port == 1110, "name:port");
	r = net_split_hostport("*:25", host, sizeof host, &port);
	CHECK(r == 0 && host[0] == '\0' && port == 25, "*:port is any");
	r = net_split_hostport("::1:995", host, sizeof host, &port);
	CHECK(r == -1, "bare IPv6 rejected");
	r = net_split_hostport("host:99999", host, sizeof host, &port);
	CHECK(r == -1, "port out of range rejected");
	r = net_split_hostport("host:", host, sizeof host, &port);
	CHECK(r == -1, "empty port rejected");
	r = net_split_hostport("host", host, sizeof host, &port);
	CHECK(r == -1, "missing port rejected");
	r = net_split_hostport("[::1]995", host, sizeof host, &port);
	CHECK(r == -1, "missing colon after bracket rejected");
}

static void
test_connect(void)
{
	struct net_attempts att;
	struct timespec t0, t1;
	char buf[64], err[256];
	int lfd, bfd, port, bport, fd, fd2, have6, r;
	long ms;

	r = net_listen("127.0.0.1:0", &lfd, err, sizeof err);
	CHECK(r == 0 && lfd >= 0, "listen on 127.0.0.1:0");
	port = net_local_port(lfd);
	CHECK(port > 0, "bound port %d", port);

	fd = net_connect("127.0.0.1", port, 2000, &att);
	CHECK(fd >= 0 && att.count == 1 && att.a[0].error == 0, "connect to IPv4 literal");
	CHECK_STR(net_addr_str(&att.a[0].addr, buf, sizeof buf), (snprintf(buf + 32, 32, "127.0.0.1:%d", port), buf + 32),
	    "attempt recorded");
	close(fd);

	/* The listener is taken: a second bind to the same port fails with a clear error. */
	snprintf(buf, sizeof buf, "127.0.0.1:%d", port);
	r = net_listen(buf, &fd, err, sizeof err);
	CHECK(r == -1 && strstr(err, "Address already in use") != NULL, "listen error: %s", r == -1 ? err : "");
	r = net_listen("nonsense", &fd, err, sizeof err);
	CHECK(r == -1 && strstr(err, "bad listen address") != NULL, "bad listen address rejected");

	/* Hook: ::1 (nobody there) then 127.0.0.1 (listening): falls back. */
	net_set_resolver(hook, NULL);
	addr6(&hook_addrs[0], "::1", port);
	addr4(&hook_addrs[1], "127.0.0.1", port);
	hook_n = 2;
	have6 = net_listen("[::1]:0", &fd, err, sizeof err) == 0;
	if (have6)
		close(fd);
	fd = net_connect("pop.example.org", port, 2000, &att);
	CHECK(hook_calls == 1, "resolver hook used for names");
	CHECK(fd >= 0, "fallback to IPv4 connects (%s)", fd >= 0 ? "" : att.error);
	CHECK(att.count == 2, "two addresses tried (%zu)", att.count);
	CHECK(att.a[0].addr.ss_family == AF_INET6 && att.a[0].error == (have6 ? ECONNREFUSED : att.a[0].error) &&
	    att.a[0].error != 0, "IPv6 attempt failed first: %s", strerror(att.a[0].error));
	CHECK(att.a[1].error == 0, "IPv4 attempt worked");
	if (fd >= 0)
		close(fd);

	/* IPv6 end to end when the machine has it. */
	if (have6) {
		int l6, p6, c6;

		r = net_listen("[::1]:0", &l6, err, sizeof err);
		p6 = net_local_port(l6);
		c6 = net_connect("::1", p6, 2000, &att);
		CHECK(r == 0 && c6 >= 0 && att.a[0].addr.ss_family == AF_INET6, "listen and connect on [::1]:%d", p6);
		if (c6 >= 0)
			close(c6);
		close(l6);
	} else
		CHECK(1, "# SKIP no IPv6 loopback");

	/* A literal never reaches the hook. */
	fd = net_connect("127.0.0.1", port, 2000, &att);
	CHECK(hook_calls == 1 && fd >= 0, "IP literal bypasses the resolver");
	close(fd);

	/* A black hole (full accept queue drops SYNs) costs only its share of the deadline. */
	bfd = socket(AF_INET, SOCK_STREAM, 0);
	{
		struct sockaddr_storage ss;
		addr4(&ss, "127.0.0.2", 0);
		bind(bfd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
		listen(bfd, 0);
	}
	bport = net_local_port(bfd);
	fd = net_connect("127.0.0.2", bport, 300, NULL);	/* fills the queue */
	fd2 = net_connect("127.0.0.2", bport, 300, NULL);
	if (fd2 >= 0) {
		close(fd2);
		fd2 = net_connect("127.0.0.2", bport, 300, NULL);
	}
	CHECK(fd >= 0 && fd2 == -1, "black hole set up");
	addr4(&hook_addrs[0], "127.0.0.2", bport);
	addr4(&hook_addrs[1], "127.0.0.1", port);
	hook_n = 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = net_connect("pop.example.org", port, 1000, &att);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(r >= 0, "connects after a black-holed address (%s)", r >= 0 ? "" : att.error);
	CHECK(att.count == 2 && att.a[0].timed_out && att.a[0].error == ETIMEDOUT, "first attempt timed out");
	CHECK(ms >= 450 && ms < 900, "black hole got half the deadline (%ld ms)", ms);
	if (r >= 0)
		close(r);

	/* Only the black hole: the whole deadline, then a clear error. */
	hook_n = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = net_connect("pop.example.org", bport, 300, &att);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(r == -1 && !att.dns_failed && strstr(att.error, "timed out") != NULL,
	    "black hole alone: %s", att.error);
	CHECK(ms >= 290 && ms < 600, "within the deadline (%ld ms)", ms);
	close(fd);
	close(bfd);

	/* Resolution failures are told apart from connect failures. */
	hook_n = 0;
	r = net_connect("nx.example.org", port, 1000, &att);
	CHECK(r == -1 && att.dns_failed && att.count == 0, "hook failure is a DNS failure");
	CHECK(strstr(att.error, "NXDOMAIN") != NULL, "hook error kept: %s", att.error);
	net_set_resolver(NULL, NULL);
	r = net_connect("no-such-host.invalid", port, 1000, &att);
	CHECK(r == -1 && att.dns_failed, "getaddrinfo failure is a DNS failure: %s", att.error);

	/* Refused. */
	close(lfd);
	r = net_connect("127.0.0.1", port, 1000, &att);
	CHECK(r == -1 && !att.dns_failed && att.count == 1 && att.a[0].error == ECONNREFUSED,
	    "refused: %s", att.error);
}

int
main(void)
{
	test_split();
	test_connect();
	return test_done();
}
