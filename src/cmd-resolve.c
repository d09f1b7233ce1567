/*
 * popgate resolve: looks names up the way the daemon does (DoH or system,
 * per the [dns] section) and prints one line per record. All names are
 * resolved concurrently. Without names (or with "-") it reads names from
 * stdin, one per line, and answers each as it arrives; the line "!stats"
 * prints the counters.
 */
#include "cmd.h"
#include "resolver.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct result {
	const char *name;
	struct resolver_answer *ans;
	char error[200];
	int failed;
};

struct pool {
	struct resolver *r;
	struct result *res;
	size_t n, next;
	int qtype, timeout_ms;
	pthread_mutex_t lock;
};

static void
print_text(const struct dns_rr *rr)
{
	putchar('"');
	for (size_t i = 0; i < rr->text_len; i++) {
		unsigned char c = (unsigned char)rr->text[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\%03u", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
print_result(const struct result *res, int qtype)
{
	const char *tn = dns_wire_type_name(qtype);
	const struct resolver_answer *a = res->ans;
	size_t answers = 0;

	if (res->failed) {
		printf("%s %s error: %s\n", res->name, tn, res->error);
		return;
	}
	for (size_t i = 0; i < a->count; i++) {
		const struct dns_rr *rr = &a->rr[i];
		printf("%s %u %s ", rr->owner, (unsigned)rr->ttl, dns_wire_type_name(rr->type));
		if (rr->type == DNS_T_TXT)
			print_text(rr);
		else if (rr->type == DNS_T_MX)
			printf("%d %s", rr->pref, rr->text);
		else
			fputs(rr->text, stdout);
		putchar('\n');
		if (rr->type == qtype)
			answers++;
	}
	if (a->rcode == DNS_R_NXDOMAIN)
		printf("%s %s NXDOMAIN\n", a->canonical, tn);
	else if (answers == 0)
		printf("%s %s NODATA\n", a->canonical, tn);
}

static void
lookup_one(struct resolver *r, struct result *res, int qtype, int timeout_ms)
{
	const char *err;

	if (resolver_lookup(r, res->name, qtype, timeout_ms, &res->ans, &err) == -1) {
		res->failed = 1;
		snprintf(res->error, sizeof(res->error), "%s", err);
	}
}

static void *
worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&p->lock);
		i = p->next++;
		pthread_mutex_unlock(&p->lock);
		if (i >= p->n)
			return NULL;
		lookup_one(p->r, &p->res[i], p->qtype, p->timeout_ms);
	}
}

/* Every name in flight at once: threads, or submit-all-then-wait. */
static void
resolve_batch(struct resolver *r, struct result *res, size_t n, int qtype, int timeout_ms, int threads)
{
	if (threads > 0) {
		struct pool p = { r, res, n, 0, qtype, timeout_ms, PTHREAD_MUTEX_INITIALIZER };
		pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
		int started = 0;

		for (int i = 0; tids != NULL && i < threads; i++)
			if (pthread_create(&tids[i], NULL, worker, &p) == 0)
				started++;
		if (started == 0)
			worker(&p);
		for (int i = 0; i < started; i++)
			pthread_join(tids[i], NULL);
		free(tids);
		return;
	}
	{
		struct resolver_query **qs = calloc(n, sizeof(*qs));
		const char *err;

		for (size_t i = 0; i < n; i++) {
			if (qs == NULL || resolver_submit(r, res[i].name, qtype, timeout_ms, &qs[i], &err) == -1) {
				res[i].failed = 1;
				snprintf(res[i].error, sizeof(res[i].error), "%s", qs ? err : "out of memory");
			}
		}
		for (size_t i = 0; qs != NULL && i < n; i++) {
			if (qs[i] != NULL && resolver_wait(&qs[i], &res[i].ans, &err) == -1) {
				res[i].failed = 1;
				snprintf(res[i].error, sizeof(res[i].error), "%s", err);
			}
		}
		free(qs);
	}
}

static void
print_stats(struct resolver *r)
{
	struct resolver_stats s;

	resolver_stats(r, &s);
	printf("stats: upstream_queries=%llu upstream_failures=%llu coalesced=%llu stale_hits=%llu "
	    "connections_reused=%llu resets=%llu latency_avg_ms=%llu latency_max_ms=%llu "
	    "cache_entries=%zu current=%s\n",
	    (unsigned long long)s.upstream_queries, (unsigned long long)s.upstream_failures,
	    (unsigned long long)s.coalesced, (unsigned long long)s.stale_hits,
	    (unsigned long long)s.connections_reused, (unsigned long long)s.resets,
	    (unsigned long long)(s.latency_count ? s.latency_ms_total / s.latency_count : 0),
	    (unsigned long long)s.latency_ms_max, s.cache_entries,
	    s.current_url ? s.current_url : "system");
	printf("queries=%llu cache_hits=%llu connections_opened=%llu failures=%llu\n",
	    (unsigned long long)s.queries, (unsigned long long)s.cache_hits,
	    (unsigned long long)s.connections_opened, (unsigned long long)s.failures);
	fflush(stdout);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int
interactive(struct resolver *r, int qtype, int timeout_ms)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int status = 0;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		struct result res;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (strcmp(line, "!stats") == 0) {
			print_stats(r);
			continue;
		}
		memset(&res, 0, sizeof(res));
		res.name = line;
		lookup_one(r, &res, qtype, timeout_ms);
		print_result(&res, qtype);
		if (res.failed)
			status = 1;
		resolver_answer_free(&res.ans);
		fflush(stdout);
	}
	free(line);
	return status;
}

/* --addrs: what a connection to NAME would try, in order. */
static int
print_addrs(struct resolver *r, char **names, int n, int timeout_ms)
{
	struct sockaddr_storage addrs[32];
	char buf[INET6_ADDRSTRLEN];
	const char *err;
	int status = 0;

	for (int i = 0; i < n; i++) {
		int count = resolver_addrs(r, names[i], 0, addrs, 32, timeout_ms, &err);

		if (count == -1) {
			printf("%s error: %s\n", names[i], err);
			status = 1;
			continue;
		}
		for (int k = 0; k < count; k++) {
			const void *a = addrs[k].ss_family == AF_INET6 ?
			    (const void *)&((struct sockaddr_in6 *)&addrs[k])->sin6_addr :
			    (const void *)&((struct sockaddr_in *)&addrs[k])->sin_addr;

			inet_ntop(addrs[k].ss_family, a, buf, sizeof(buf));
			printf("%s %s\n", names[i], buf);
		}
	}
	return status;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: popgate resolve [-c FILE] [--type T | --addrs] [--stats] [--threads N] [--repeat N]\n"
	    "                       [--timeout MS] NAME...\n"
	    "Resolves every NAME concurrently through the [dns] settings (DoH or system) and\n"
	    "prints one line per record: NAME TTL TYPE DATA, or NAME TYPE NXDOMAIN|NODATA,\n"
	    "or NAME TYPE error: REASON. T is A (default), AAAA, CNAME, TXT, MX or PTR.\n"
	    "  --addrs      print the addresses a connection would use (AAAA then A)\n"
	    "  --stats      end with the resolver's counters\n"
	    "  --threads N  call the resolver from N threads instead of one\n"
	    "  --repeat N   resolve the list N times (later rounds come from the cache);\n"
	    "               with --stats, each round's time goes to stderr\n"
	    "Without NAME (or with -), reads names from stdin, one per line.\n"
	    "Exit status: 0 if every name got an answer (NXDOMAIN included), 1 otherwise.\n");
}

int
cmd_resolve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "type", required_argument, NULL, 't' },
		{ "stats", no_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 'T' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "addrs", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *err;
	struct config *cf;
	struct resolver *r;
	struct result *res;
	int ch, qtype = DNS_T_A, stats = 0, addrs = 0, threads = 0, repeat = 1, timeout_ms = 0, status = 0;
	size_t n;

	while ((ch = getopt_long(argc, argv, "c:t:sT:R:w:ah", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			qtype = dns_wire_type_parse(optarg);
			if (qtype != DNS_T_A && qtype != DNS_T_AAAA && qtype != DNS_T_CNAME &&
			    qtype != DNS_T_TXT && qtype != DNS_T_MX && qtype != DNS_T_PTR) {
				fprintf(stderr, "popgate resolve: unsupported type \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 's':
			stats = 1;
			break;
		case 'T':
			threads = atoi(optarg);
			if (threads < 1 || threads > 1000) {
				fprintf(stderr, "popgate resolve: --threads must be 1 to 1000\n");
				return 2;
			}
			break;
		case 'R':
			repeat = atoi(optarg);
			if (repeat < 1 || repeat > 1000) {
				fprintf(stderr, "popgate resolve: --repeat must be 1 to 1000\n");
				return 2;
			}
			break;
		case 'w':
			timeout_ms = atoi(optarg);
			break;
		case 'a':
			addrs = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if ((cf = cmd_load_config(path)) == NULL)
		return 1;
	if (resolver_new(cf, &r, &err) == -1) {
		fprintf(stderr, "popgate resolve: %s\n", err);
		config_free(&cf);
		return 1;
	}
	if (argc == 0 || (argc == 1 && strcmp(argv[0], "-") == 0)) {
		status = interactive(r, qtype, timeout_ms);
		if (stats)
			print_stats(r);
		resolver_free(&r);
		config_free(&cf);
		return status;
	}
	if (addrs) {
		status = print_addrs(r, argv, argc, timeout_ms);
		if (stats)
			print_stats(r);
		resolver_free(&r);
		config_free(&cf);
		return status;
	}
	n = (size_t)argc;
	if ((res = calloc(n, sizeof(*res))) == NULL) {
		fprintf(stderr, "popgate resolve: out of memory\n");
		resolver_free(&r);
		config_free(&cf);
		return 1;
	}
	for (int round = 1; round <= repeat; round++) {
		double t0 = now_ms();

		for (size_t i = 0; i < n; i++) {
			resolver_answer_free(&res[i].ans);
			memset(&res[i], 0, sizeof(res[i]));
			res[i].name = argv[i];
		}
		resolve_batch(r, res, n, qtype, timeout_ms, threads);
		if (stats && repeat > 1)
			fprintf(stderr, "round %d: %zu lookups in %.2f ms\n", round, n, now_ms() - t0);
		if (round == repeat) {
			for (size_t i = 0; i < n; i++) {
				print_result(&res[i], qtype);
				if (res[i].failed)
					status = 1;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		resolver_answer_free(&res[i].ans);
	free(res);
	if (stats)
		print_stats(r);
	resolver_free(&r);
	config_free(&cf);
	return status;
}
