/*
 * net: listening sockets and outgoing connections with deadlines.
 *
 * Owns host:port parsing, name resolution through one replaceable hook
 * (getaddrinfo until the DoH resolver is wired in), and connecting to every
 * address of a host in turn, IPv6 and IPv4 interleaved, within one deadline.
 * It records each address tried and why it failed so that diagnostics can
 * show it. net never logs and never speaks a protocol.
 */
#ifndef POPGATE_NET_H
#define POPGATE_NET_H

#include <stddef.h>
#include <sys/socket.h>

#define NET_MAX_ADDRS 16

/*
 * A resolver: fills addrs (port set) and returns their count (> 0), or -1
 * with *error_r set. The DoH resolver's resolver_addrs() has this shape
 * with ctx its struct resolver.
 */
typedef int net_resolve_fn(void *ctx, const char *host, int port,
    struct sockaddr_storage *addrs, size_t max, int timeout_ms, const char **error_r);

/*
 * Replaces the resolver for the whole process (NULL: getaddrinfo again).
 * Call it at start-up before threads exist.
 */
void net_set_resolver(net_resolve_fn *fn, void *ctx);

/* Resolves with the current hook. IP literals never reach the hook. */
int net_resolve(const char *host, int port, struct sockaddr_storage *addrs, size_t max,
    int timeout_ms, const char **error_r);

struct net_attempt {
	struct sockaddr_storage addr;
	int error;		/* errno of the failure, 0 for the one that worked */
	int timed_out;		/* its share of the deadline ran out */
};

struct net_attempts {
	int dns_failed;		/* resolution failed: nothing was tried */
	size_t count;
	struct net_attempt a[NET_MAX_ADDRS];
	char error[256];	/* a summary line when net_connect fails */
};

/*
 * Connects to host (name or IP literal, IPv6 without brackets) on port,
 * trying each address until one answers, all within timeout_ms. Returns a
 * connected non-blocking fd, or -1 with att->error (and att->dns_failed)
 * set. att may be NULL.
 */
int net_connect(const char *host, int port, int timeout_ms, struct net_attempts *att);

/* "a.b.c.d:p", "[v6]:p", "name:p", "*:p" (any). host gets "" for any. */
int net_split_hostport(const char *s, char *host, size_t hostlen, int *port_r);

/*
 * A bound, listening, close-on-exec socket for "host:port" (SO_REUSEADDR)
 * into *fd_r. 0, or -1 with the reason in err.
 */
int net_listen(const char *hostport, int *fd_r, char *err, size_t errlen);

/* "127.0.0.1:995" or "[::1]:995" into buf. Returns buf. */
const char *net_addr_str(const struct sockaddr_storage *ss, char *buf, size_t size);
/* The local port of a bound socket, or -1. */
int net_local_port(int fd);

#endif
