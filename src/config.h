/*
 * config: the INI file (libinih) turned into one validated, immutable struct.
 *
 * Holds only what is needed before the database is open. Day-to-day data
 * (users, accounts, lists, trust) lives in SQLite. Unknown sections or keys
 * are errors reported with their line number. The struct is built once at
 * start-up and never changed afterwards, so threads may read it freely.
 */
#ifndef POPGATE_CONFIG_H
#define POPGATE_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_LISTEN 4
#define CONFIG_MAX_DOH 8

enum dns_mode { DNS_MODE_SYSTEM, DNS_MODE_DOH };

struct config {
	char *path;                 /* file it was read from, or NULL for defaults */
	/* [general] */
	char *state_dir;            /* absolute path */
	int log_level;              /* enum log_level */
	/* [pop3] */
	char *pop3_listen[CONFIG_MAX_LISTEN];      /* "host:port", plain + STLS */
	size_t pop3_listen_count;
	char *pop3_listen_tls[CONFIG_MAX_LISTEN];  /* implicit TLS */
	size_t pop3_listen_tls_count;
	char *pop3_cert;            /* absolute; default STATE/popgate-cert.pem */
	char *pop3_key;
	int max_sessions;
	int idle_timeout;           /* seconds */
	int plaintext_loopback;     /* 1: loopback clients may log in without TLS */
	/* [web] */
	char *web_listen;           /* "host:port" or NULL for none */
	int web_allow_remote;       /* 1: a non-loopback web listen is accepted (no TLS there yet) */
	char *web_root;             /* the dashboard's files (web/); NULL: the built-in default */
	/* [sync] */
	int sync_interval;          /* seconds */
	int login_wait;             /* seconds */
	int sync_workers;
	int sync_timeout;           /* seconds per upstream I/O step */
	int allow_insecure;         /* 1: accounts marked insecure may sync */
	/* [dns] */
	enum dns_mode dns_mode;
	char *doh_url[CONFIG_MAX_DOH];
	size_t doh_url_count;
	char *dns_bootstrap[CONFIG_MAX_DOH];   /* "host:port:addr[,addr]" as CURLOPT_RESOLVE wants */
	size_t dns_bootstrap_count;
	char *dns_ca_file;
	int dns_timeout_ms;
	int dns_cache_size;
	int dns_doh_get;            /* 1: use GET instead of POST */
};

/*
 * Reads path (NULL: the embedded defaults only). On error returns NULL and
 * writes "FILE:LINE: message" into err (size errlen).
 */
struct config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct config **cfp);

/* Joins the state dir with name into a new string. */
char *config_state_path(const struct config *cf, const char *name);

/*
 * Whether a DoH URL's host is an IP literal or has a bootstrap entry for
 * its port: popgate never asks the system resolver for a DoH server.
 */
int config_doh_bootstrap_check(const struct config *cf, const char *url, char *err, size_t errlen);

#endif
