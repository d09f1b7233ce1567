/*
 * A driver for pop3-client against real servers, used by
 * tests/e2e/test_pop3c_live.py: connects, logs in, lists, fetches,
 * deletes, and prints what happened one fact a line:
 *   result ok | result fail stage=S code=C resp=R detail=D
 *   tls VERSION CIPHER / auth MECH / msg NUM UIDL SIZE / retr NUM SIZE / maxrss KB
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "net.h"
#include "pop3-client.h"
#include "tls.h"

static char map_name[256];
static char map_addr[64];

/* -R name=addr: like curl --resolve, for names a test certificate holds. */
static int
map_resolver(void *ctx, const char *host, int port, struct sockaddr_storage *addrs, size_t max,
    int timeout_ms, const char **error_r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&addrs[0];

	if (strcmp(host, map_name) != 0) {
		*error_r = "name not in the test map (NXDOMAIN)";
		return -1;
	}
	memset(&addrs[0], 0, sizeof addrs[0]);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, map_addr, &sin->sin_addr);
	return 1;
}

static void
report_fail(const struct pop3c_failure *f)
{
	printf("result fail stage=%s code=%s resp=%s detail=%s\n", pop3c_stage_name(f->stage),
	    pop3c_code_name(f->code), f->resp_code[0] ? f->resp_code : "-", f->detail);
}

static void
usage(void)
{
	fprintf(stderr, "usage: test-pop3c-live [-s] [-I] [-a auth] [-u login] [-p password] [-C cafile]\n"
	    "  [-m min] [-M max] [-t ms] [-R name=addr] [-l] [-r num:file] [-x max] [-T num:lines:file]\n"
	    "  [-d num] [-q] [-D] host port\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct pop3c_params p;
	struct pop3c_failure f;
	struct net_attempts att;
	struct pop3c *c = NULL;
	struct pop3c_msg *msgs = NULL;
	const char *retr = NULL, *top = NULL;
	int64_t max = INT64_MAX, size;
	int ch, list = 0, quit = 0, dele = 0, diag = 0, fd, rc = 1;
	size_t n = 0;
	char err[1024], file[512];
	unsigned num, lines;

	signal(SIGPIPE, SIG_IGN);
	memset(&p, 0, sizeof p);
	p.timeout_ms = 10000;
	p.auth = "auto";
	while ((ch = getopt(argc, argv, "sIa:u:p:C:m:M:t:R:lr:x:T:d:qD")) != -1) {
		switch (ch) {
		case 's': p.starttls = 1; break;
		case 'I': p.no_sasl_ir = 1; break;
		case 'a': p.auth = optarg; break;
		case 'u': p.login = optarg; break;
		case 'p': p.password = optarg; break;
		case 'C': p.ca_file = optarg; break;
		case 'm': p.min_tls = tls_version_parse(optarg); break;
		case 'M': p.max_tls = tls_version_parse(optarg); break;
		case 't': p.timeout_ms = atoi(optarg); break;
		case 'R':
			if (sscanf(optarg, "%255[^=]=%63s", map_name, map_addr) != 2)
				usage();
			net_set_resolver(map_resolver, NULL);
			break;
		case 'l': list = 1; break;
		case 'r': retr = optarg; break;
		case 'x': max = atoll(optarg); break;
		case 'T': top = optarg; break;
		case 'd': dele = atoi(optarg); break;
		case 'q': quit = 1; break;
		case 'D': diag = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	p.host = argv[optind];
	p.port = atoi(argv[optind + 1]);

	if (diag) {
		json_t *j = diag_upstream(&p, p.ca_file != NULL ? "custom" : "system");
		char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		printf("diag %s\n", text != NULL ? text : "null");
		printf("result %s\n", j != NULL && json_is_true(json_object_get(j, "ok")) ? "ok" : "fail");
		free(text);
		json_decref(j);
		return 0;
	}
	if (pop3c_connect(&p, &c, &f, &att) == -1) {
		for (size_t i = 0; i < att.count; i++) {
			char a[64];
			printf("attempt %s %s\n", net_addr_str(&att.a[i].addr, a, sizeof a),
			    att.a[i].error ? strerror(att.a[i].error) : "ok");
		}
		report_fail(&f);
		return 1;
	}
	printf("tls %s %s\n", pop3c_tls_version(c), pop3c_tls_cipher(c));
	printf("auth %s\n", pop3c_auth_used(c));
	printf("greeting %s\n", pop3c_greeting(c));
	if (list || retr || top || dele) {
		if (pop3c_uidl(c, &msgs, &n, err, sizeof err) == -1)
			goto fail;
		for (size_t i = 0; list && i < n; i++)
			printf("msg %u %s %lld\n", msgs[i].num, msgs[i].uidl, (long long)msgs[i].size);
	}
	if (retr != NULL) {
		if (sscanf(retr, "%u:%511s", &num, file) != 2)
			usage();
		if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
			usage();
		if (pop3c_retr(c, num, fd, max, &size, err, sizeof err) == -1) {
			close(fd);
			report_fail(pop3c_last_failure(c));
			/* Still usable after a message that was too big? */
			if (pop3c_noop(c, err, sizeof err) == 0)
				printf("noop ok\n");
			goto out;
		}
		close(fd);
		printf("retr %u %lld\n", num, (long long)size);
	}
	if (top != NULL) {
		if (sscanf(top, "%u:%u:%511s", &num, &lines, file) != 3)
			usage();
		if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
			usage();
		if (pop3c_top(c, num, lines, fd, max, &size, err, sizeof err) == -1) {
			close(fd);
			goto fail;
		}
		close(fd);
		printf("top %u %lld\n", num, (long long)size);
	}
	if (dele && pop3c_dele(c, (unsigned)dele, err, sizeof err) == -1)
		goto fail;
	if (quit && pop3c_quit(c, err, sizeof err) == -1)
		goto fail;
	printf("result ok\n");
	rc = 0;
	goto out;
fail:
	report_fail(pop3c_last_failure(c));
out:
	/* VmHWM, not ru_maxrss: Linux carries the parent's peak across exec. */
	{
		FILE *st = fopen("/proc/self/status", "r");
		char l[256];
		long kb = -1;

		while (st != NULL && fgets(l, sizeof l, st) != NULL)
			if (sscanf(l, "VmHWM: %ld kB", &kb) == 1)
				break;
		if (st != NULL)
			fclose(st);
		printf("maxrss %ld\n", kb);
	}
	pop3c_msgs_free(&msgs, n);
	pop3c_free(&c);
	return rc;
}
