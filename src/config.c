#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct parse_ctx {
	struct config *cf;
	char *err;
	size_t errlen;
	int failed;
};

static int
parse_int(const char *value, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int
parse_bool(const char *value, int *out)
{
	if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
		*out = 1;
	else if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Accepts "host:port" or "[v6]:port" with a numeric port. */
static int
valid_hostport(const char *value)
{
	const char *colon = strrchr(value, ':');
	int port;

	if (colon == NULL || colon == value)
		return 0;
	if (value[0] == '[' && colon[-1] != ']')
		return 0;
	return parse_int(colon + 1, 1, 65535, &port) == 0;
}

static int
set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = strdup(value);
	return *slot != NULL;
}

static int
add_str(char **arr, size_t *count, size_t max, const char *value)
{
	if (*count >= max)
		return 0;
	arr[*count] = strdup(value);
	if (arr[*count] == NULL)
		return 0;
	(*count)++;
	return 1;
}

static void
clear_list(char **arr, size_t *count)
{
	for (size_t i = 0; i < *count; i++) {
		free(arr[i]);
		arr[i] = NULL;
	}
	*count = 0;
}

/* Lists given in a file replace the defaults on their first appearance. */
struct list_seen {
	int pop3_listen, pop3_listen_tls, doh_url, bootstrap;
};
static __thread struct list_seen seen;

#define BAD(...) do { snprintf(p->err, p->errlen, __VA_ARGS__); return 0; } while (0)

static int
handle_general(struct parse_ctx *p, const char *name, const char *value)
{
	struct config *cf = p->cf;
	enum log_level lvl;

	if (strcmp(name, "state_dir") == 0) {
		if (*value == '\0')
			BAD("state_dir must not be empty");
		return set_str(&cf->state_dir, value);
	}
	if (strcmp(name, "log_level") == 0) {
		if (log_level_parse(value, &lvl) == -1)
			BAD("log_level must be error, warn, info or debug, not \"%s\"", value);
		cf->log_level = (int)lvl;
		return 1;
	}
	BAD("unknown key \"%s\" in [general]", name);
}

static int
handle_pop3(struct parse_ctx *p, const char *name, const char *value)
{
	struct config *cf = p->cf;

	if (strcmp(name, "listen") == 0 || strcmp(name, "listen_tls") == 0) {
		int tls = strcmp(name, "listen_tls") == 0;
		char **arr = tls ? cf->pop3_listen_tls : cf->pop3_listen;
		size_t *count = tls ? &cf->pop3_listen_tls_count : &cf->pop3_listen_count;
		int *flag = tls ? &seen.pop3_listen_tls : &seen.pop3_listen;

		if (!*flag) {
			clear_list(arr, count);
			*flag = 1;
		}
		if (*value == '\0')
			return 1;	/* "listen =" turns the listener off */
		if (!valid_hostport(value))
			BAD("%s must be HOST:PORT, not \"%s\"", name, value);
		if (!add_str(arr, count, CONFIG_MAX_LISTEN, value))
			BAD("too many %s entries (at most %d)", name, CONFIG_MAX_LISTEN);
		return 1;
	}
	if (strcmp(name, "cert") == 0)
		return set_str(&cf->pop3_cert, value);
	if (strcmp(name, "key") == 0)
		return set_str(&cf->pop3_key, value);
	if (strcmp(name, "max_sessions") == 0) {
		if (parse_int(value, 1, 10000, &cf->max_sessions) == -1)
			BAD("max_sessions must be a number from 1 to 10000");
		return 1;
	}
	if (strcmp(name, "idle_timeout") == 0) {
		if (parse_int(value, 10, 86400, &cf->idle_timeout) == -1)
			BAD("idle_timeout must be seconds from 10 to 86400");
		return 1;
	}
	if (strcmp(name, "plaintext_loopback") == 0) {
		if (parse_bool(value, &cf->plaintext_loopback) == -1)
			BAD("plaintext_loopback must be yes or no");
		return 1;
	}
	BAD("unknown key \"%s\" in [pop3]", name);
}

static int
handle_web(struct parse_ctx *p, const char *name, const char *value)
{
	struct config *cf = p->cf;

	if (strcmp(name, "listen") == 0) {
		if (*value == '\0') {
			free(cf->web_listen);
			cf->web_listen = NULL;
			return 1;
		}
		if (!valid_hostport(value))
			BAD("listen must be HOST:PORT, not \"%s\"", value);
		return set_str(&cf->web_listen, value);
	}
	if (strcmp(name, "root") == 0) {
		if (*value != '/')
			BAD("root must be an absolute path, not \"%s\"", value);
		return set_str(&cf->web_root, value);
	}
	if (strcmp(name, "allow_remote") == 0) {
		if (parse_bool(value, &cf->web_allow_remote) == -1)
			BAD("allow_remote must be yes or no");
		return 1;
	}
	BAD("unknown key \"%s\" in [web]", name);
}

static int
handle_sync(struct parse_ctx *p, const char *name, const char *value)
{
	struct config *cf = p->cf;

	if (strcmp(name, "interval") == 0) {
		if (parse_int(value, 1, 86400, &cf->sync_interval) == -1)
			BAD("interval must be seconds from 1 to 86400");
		return 1;
	}
	if (strcmp(name, "login_wait") == 0) {
		if (parse_int(value, 0, 600, &cf->login_wait) == -1)
			BAD("login_wait must be seconds from 0 to 600");
		return 1;
	}
	if (strcmp(name, "workers") == 0) {
		if (parse_int(value, 1, 64, &cf->sync_workers) == -1)
			BAD("workers must be a number from 1 to 64");
		return 1;
	}
	if (strcmp(name, "timeout") == 0) {
		if (parse_int(value, 1, 3600, &cf->sync_timeout) == -1)
			BAD("timeout must be seconds from 1 to 3600");
		return 1;
	}
	if (strcmp(name, "allow_insecure") == 0) {
		if (parse_bool(value, &cf->allow_insecure) == -1)
			BAD("allow_insecure must be yes or no");
		return 1;
	}
	BAD("unknown key \"%s\" in [sync]", name);
}

static int
handle_dns(struct parse_ctx *p, const char *name, const char *value)
{
	struct config *cf = p->cf;

	if (strcmp(name, "mode") == 0) {
		if (strcmp(value, "system") == 0)
			cf->dns_mode = DNS_MODE_SYSTEM;
		else if (strcmp(value, "doh") == 0)
			cf->dns_mode = DNS_MODE_DOH;
		else
			BAD("mode must be doh or system, not \"%s\"", value);
		return 1;
	}
	if (strcmp(name, "doh_url") == 0) {
		if (!seen.doh_url) {
			clear_list(cf->doh_url, &cf->doh_url_count);
			seen.doh_url = 1;
		}
		if (strncmp(value, "https://", 8) != 0)
			BAD("doh_url must start with https://, not \"%s\"", value);
		if (!add_str(cf->doh_url, &cf->doh_url_count, CONFIG_MAX_DOH, value))
			BAD("too many doh_url entries (at most %d)", CONFIG_MAX_DOH);
		return 1;
	}
	if (strcmp(name, "bootstrap") == 0) {
		if (!seen.bootstrap) {
			clear_list(cf->dns_bootstrap, &cf->dns_bootstrap_count);
			seen.bootstrap = 1;
		}
		if (!add_str(cf->dns_bootstrap, &cf->dns_bootstrap_count, CONFIG_MAX_DOH, value))
			BAD("too many bootstrap entries (at most %d)", CONFIG_MAX_DOH);
		return 1;
	}
	if (strcmp(name, "ca_file") == 0)
		return set_str(&cf->dns_ca_file, value);
	if (strcmp(name, "timeout_ms") == 0) {
		if (parse_int(value, 50, 60000, &cf->dns_timeout_ms) == -1)
			BAD("timeout_ms must be from 50 to 60000");
		return 1;
	}
	if (strcmp(name, "cache_size") == 0) {
		if (parse_int(value, 0, 1000000, &cf->dns_cache_size) == -1)
			BAD("cache_size must be from 0 to 1000000");
		return 1;
	}
	if (strcmp(name, "method") == 0) {
		if (strcmp(value, "post") == 0 || strcmp(value, "POST") == 0)
			cf->dns_doh_get = 0;
		else if (strcmp(value, "get") == 0 || strcmp(value, "GET") == 0)
			cf->dns_doh_get = 1;
		else
			BAD("method must be post or get, not \"%s\"", value);
		return 1;
	}
	BAD("unknown key \"%s\" in [dns]", name);
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	int ok;

	if (p->failed)
		return 1;	/* keep the first error */
	if (name == NULL)
		return 1;	/* section start; an unknown one fails on its first key */
	if (strcmp(section, "general") == 0)
		ok = handle_general(p, name, value);
	else if (strcmp(section, "pop3") == 0)
		ok = handle_pop3(p, name, value);
	else if (strcmp(section, "web") == 0)
		ok = handle_web(p, name, value);
	else if (strcmp(section, "sync") == 0)
		ok = handle_sync(p, name, value);
	else if (strcmp(section, "dns") == 0)
		ok = handle_dns(p, name, value);
	else {
		if (*section == '\0')
			snprintf(p->err, p->errlen, "key \"%s\" outside any section", name);
		else
			snprintf(p->err, p->errlen, "unknown section [%s]", section);
		ok = 0;
	}
	if (!ok) {
		if (p->err[0] == '\0')
			snprintf(p->err, p->errlen, "out of memory");
		p->failed = 1;
	}
	return ok;
}

static void
set_defaults(struct config *cf)
{
	cf->state_dir = strdup("./var");
	cf->log_level = LOG_LVL_INFO;
	cf->pop3_listen[cf->pop3_listen_count++] = strdup("127.0.0.1:1110");
	cf->pop3_listen_tls[cf->pop3_listen_tls_count++] = strdup("127.0.0.1:1995");
	cf->max_sessions = 64;
	cf->idle_timeout = 600;
	cf->plaintext_loopback = 1;
	cf->web_listen = strdup("127.0.0.1:8025");
	cf->sync_interval = 300;
	cf->login_wait = 10;
	cf->sync_workers = 2;
	cf->sync_timeout = 60;
	/* Two public DoH resolvers, reached through their bootstrap addresses. */
	cf->dns_mode = DNS_MODE_DOH;
	cf->doh_url[cf->doh_url_count++] = strdup("https://dns.quad9.net/dns-query");
	cf->doh_url[cf->doh_url_count++] = strdup("https://cloudflare-dns.com/dns-query");
	cf->dns_bootstrap[cf->dns_bootstrap_count++] = strdup("dns.quad9.net:443:9.9.9.9,149.112.112.112");
	cf->dns_bootstrap[cf->dns_bootstrap_count++] = strdup("cloudflare-dns.com:443:1.1.1.1,1.0.0.1");
	cf->dns_timeout_ms = 3000;
	cf->dns_cache_size = 10000;
}

static char *
absolute(const char *base, const char *path)
{
	char cwd[PATH_MAX];
	char *out;

	if (path[0] == '/')
		return strdup(path);
	if (base == NULL) {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return NULL;
		base = cwd;
	}
	if (strncmp(path, "./", 2) == 0)
		path += 2;
	if (asprintf(&out, "%s/%s", base, path) == -1)
		return NULL;
	return out;
}

/* Whether "host:port" names a loopback address (127/8, ::1, localhost). */
static int
loopback_hostport(const char *hp)
{
	const char *colon = strrchr(hp, ':');
	char host[64];
	unsigned char a4[4], a6[16];
	size_t n;

	if (colon == NULL)
		return 0;
	n = (size_t)(colon - hp);
	if (hp[0] == '[' && n >= 2) {
		hp++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, hp, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a4) == 1)
		return a4[0] == 127;
	if (inet_pton(AF_INET6, host, a6) == 1)
		return memcmp(a6, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
	return 0;
}

static int
finish(struct config *cf, char *err, size_t errlen)
{
	char *abs = absolute(NULL, cf->state_dir);

	if (abs == NULL) {
		snprintf(err, errlen, "cannot resolve state_dir");
		return -1;
	}
	free(cf->state_dir);
	cf->state_dir = abs;
	if (cf->pop3_cert == NULL)
		cf->pop3_cert = config_state_path(cf, "popgate-cert.pem");
	if (cf->pop3_key == NULL)
		cf->pop3_key = config_state_path(cf, "popgate-key.pem");
	if ((cf->pop3_cert == NULL) != (cf->pop3_key == NULL)) {
		snprintf(err, errlen, "[pop3] cert and key must be given together");
		return -1;
	}
	if (cf->web_listen != NULL && !cf->web_allow_remote && !loopback_hostport(cf->web_listen)) {
		snprintf(err, errlen, "[web] listen = %s is not a loopback address, and the web listener has no "
		    "TLS: keep it on 127.0.0.1 (behind a TLS proxy) or set [web] allow_remote = yes", cf->web_listen);
		return -1;
	}
	if (cf->dns_mode == DNS_MODE_DOH && cf->doh_url_count == 0) {
		snprintf(err, errlen, "[dns] mode = doh needs at least one doh_url");
		return -1;
	}
	for (size_t i = 0; cf->dns_mode == DNS_MODE_DOH && i < cf->doh_url_count; i++) {
		if (config_doh_bootstrap_check(cf, cf->doh_url[i], err, errlen) == -1)
			return -1;
	}
	return 0;
}

int
config_doh_bootstrap_check(const struct config *cf, const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	unsigned char tmp[16];
	int ok = 0;

	if (u == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		snprintf(err, errlen, "[dns] bad doh_url %s", url);
		goto out;
	}
	if (host[0] == '[' || inet_pton(AF_INET, host, tmp) == 1) {
		ok = 1;
		goto out;
	}
	for (size_t i = 0; i < cf->dns_bootstrap_count; i++) {
		const char *b = cf->dns_bootstrap[i];
		size_t hl = strlen(host), pl = strlen(port);

		if (strncasecmp(b, host, hl) == 0 && b[hl] == ':' &&
		    strncmp(b + hl + 1, port, pl) == 0 && b[hl + 1 + pl] == ':') {
			ok = 1;
			goto out;
		}
	}
	snprintf(err, errlen, "[dns] doh_url %s: host %s has no bootstrap entry (bootstrap = %s:%s:ADDRESS); "
	    "popgate never asks the system resolver for it", url, host, host, port);
out:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok ? 0 : -1;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config *cf = calloc(1, sizeof(*cf));
	struct parse_ctx p = { cf, err, errlen, 0 };
	FILE *fp;
	int line;

	if (cf == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	err[0] = '\0';
	memset(&seen, 0, sizeof(seen));
	set_defaults(cf);
	if (path != NULL) {
		cf->path = strdup(path);
		if ((fp = fopen(path, "r")) == NULL) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			config_free(&cf);
			return NULL;
		}
		line = ini_parse_file(fp, handler, &p);
		fclose(fp);
		if (line != 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", err[0] ? err : "syntax error");
			if (line < 0)
				snprintf(err, errlen, "%s: cannot read file", path);
			else
				snprintf(err, errlen, "%s:%d: %s", path, line, msg);
			config_free(&cf);
			return NULL;
		}
	}
	if (finish(cf, err, errlen) == -1) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "%s: %s", path ? path : "defaults", msg);
		config_free(&cf);
		return NULL;
	}
	return cf;
}

void
config_free(struct config **cfp)
{
	struct config *cf = *cfp;

	if (cf == NULL)
		return;
	free(cf->path);
	free(cf->state_dir);
	clear_list(cf->pop3_listen, &cf->pop3_listen_count);
	clear_list(cf->pop3_listen_tls, &cf->pop3_listen_tls_count);
	free(cf->pop3_cert);
	free(cf->pop3_key);
	free(cf->web_listen);
	free(cf->web_root);
	clear_list(cf->doh_url, &cf->doh_url_count);
	clear_list(cf->dns_bootstrap, &cf->dns_bootstrap_count);
	free(cf->dns_ca_file);
	free(cf);
	*cfp = NULL;
}

char *
config_state_path(const struct config *cf, const char *name)
{
	char *out;

	if (asprintf(&out, "%s/%s", cf->state_dir, name) == -1)
		return NULL;
	return out;
}
