/*
 * rules-engines.c: asking an external engine about the message (see
 * rules.h): SpamAssassin's spamd (the SPAMC/1.5 "CHECK" command over TCP)
 * and rspamd (POST /checkv2 over HTTP). Each is off unless configured, sees
 * at most RULES_ENGINE_MAX bytes (larger mail is not sent, as spamc does),
 * and answers within the rule deadline or not at all: a silent engine is no
 * hit.
 */
#include "rules.h"
#include "net.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RULES_ENGINE_MAX (512 * 1024)
#define REPLY_MAX 8192

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until the deadline; 0 ready, -1 not. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return -1;
		r = poll(&p, 1, (int)left);

		if (r > 0)
			return 0;
		if (r == -1 && errno != EINTR)
			return -1;
	}
}

static int
send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) == -1)
				return -1;
		} else
			return -1;
	}
	return 0;
}

/*
 * spamd's verdict line: "Spam: True ; 15.3 / 5.0". Returns 1 spam, 0 not,
 * -1 no such line.
 */
int
rules_spamd_parse(const char *reply, double *score_r, double *required_r)
{
	const char *line = strcasestr(reply, "\nSpam:");
	char word[8];

	if (line == NULL || strncmp(reply, "SPAMD/", 6) != 0 || strstr(reply, " EX_OK") == NULL)
		return -1;
	if (sscanf(line + 6, " %7s ; %lf / %lf", word, score_r, required_r) != 3)
		return -1;
	return strcasecmp(word, "true") == 0 || strcasecmp(word, "yes") == 0;
}

static int
spamd_check(const struct rules_config *cfg, const char *msg, size_t len, double *score_r, double *req_r)
{
	char host[256], head[128], reply[REPLY_MAX];
	int64_t deadline = now_ms() + cfg->timeout_ms;
	size_t got = 0;
	int port, fd, rc = -1;

	if (net_split_hostport(cfg->spamd, host, sizeof(host), &port) == -1 || host[0] == '\0')
		return -1;
	if ((fd = net_connect(host, port, cfg->timeout_ms, NULL)) == -1)
		return -1;
	snprintf(head, sizeof(head), "CHECK SPAMC/1.5\r\nContent-length: %zu\r\nUser: popgate\r\n\r\n", len);
	if (send_all(fd, head, strlen(head), deadline) == -1 || send_all(fd, msg, len, deadline) == -1)
		goto out;
	shutdown(fd, SHUT_WR);
	while (got < sizeof(reply) - 1) {
		ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);

		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
		else if ((errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline) == 0)
			continue;
		else
			goto out;
	}
	reply[got] = '\0';
	rc = rules_spamd_parse(reply, score_r, req_r);
out:
	close(fd);
	return rc;
}

struct body {
	char buf[REPLY_MAX];
	size_t len;
};

static size_t
collect(char *p, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	size_t len = size * n;

	if (len > sizeof(b->buf) - 1 - b->len)
		return 0;       /* larger than any verdict: stop */
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	return len;
}

/* rspamd's JSON: 1 spam (its action rejects or marks), 0 not, -1 unreadable. */
int
rules_rspamd_parse(const char *json, double *score_r, double *required_r)
{
	json_t *j = json_loads(json, 0, NULL);
	const char *action;
	int spam = -1;

	if (j == NULL)
		return -1;
	action = json_string_value(json_object_get(j, "action"));
	if (action != NULL && json_is_number(json_object_get(j, "score"))) {
		*score_r = json_number_value(json_object_get(j, "score"));
		*required_r = json_number_value(json_object_get(j, "required_score"));
		spam = strcmp(action, "reject") == 0 || strcmp(action, "add header") == 0 ||
		    strcmp(action, "rewrite subject") == 0;
	}
	json_decref(j);
	return spam;
}

static int
rspamd_check(const struct rules_config *cfg, const char *msg, size_t len, double *score_r, double *req_r)
{
	CURL *c = curl_easy_init();
	struct body b = { .len = 0 };
	long status = 0;
	int rc = -1;

	if (c == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, cfg->rspamd);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, msg);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
	    status == 200) {
		b.buf[b.len] = '\0';
		rc = rules_rspamd_parse(b.buf, score_r, req_r);
	}
	curl_easy_cleanup(c);
	return rc;
}

void
rules_engines(const struct rules_config *cfg, int fd, int64_t size, struct rules_hits *hits)
{
	char detail[64], *msg;
	double score, req;
	size_t got = 0;

	if ((cfg->spamd == NULL && cfg->rspamd == NULL) || size <= 0 || size > RULES_ENGINE_MAX)
		return;
	if ((msg = malloc((size_t)size + 1)) == NULL)
		return;
	while (got < (size_t)size) {
		ssize_t n = pread(fd, msg + got, (size_t)size - got, (off_t)got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == (size_t)size) {
		if (cfg->spamd != NULL && spamd_check(cfg, msg, got, &score, &req) == 1) {
			snprintf(detail, sizeof(detail), "%.1f/%.1f", score, req);
			rules_hit_add(hits, "spamd", detail, cfg->spamd_weight);
		}
		if (cfg->rspamd != NULL && rspamd_check(cfg, msg, got, &score, &req) == 1) {
			snprintf(detail, sizeof(detail), "%.1f/%.1f", score, req);
			rules_hit_add(hits, "rspamd", detail, cfg->rspamd_weight);
		}
	}
	free(msg);
}
