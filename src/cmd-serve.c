#include "cmd.h"
#include "trust.h"
#include "crypto.h"
#include "log.h"
#include "msg-headers.h"
#include "net.h"
#include "pop3-server.h"
#include "filter.h"
#include "resolver.h"
#include "store.h"
#include "sync.h"
#include "tls.h"
#include "web.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char serve_usage[] =
    "usage: popgate serve [-c FILE]\n"
    "Runs the gateway in the foreground until SIGTERM or SIGINT; SIGHUP reloads\n"
    "the POP3 certificate. Without -c it runs on the embedded defaults: state in\n"
    "./var, POP3 with STLS on 127.0.0.1:1110, implicit TLS on 127.0.0.1:1995,\n"
    "the JSON API on 127.0.0.1:8025 ([web] listen; see popgate token).\n"
    "A self-signed certificate is made in the state dir when none is configured.\n";

/* Loads (making when absent) the downstream certificate. */
static SSL_CTX *
load_tls(const struct config *cf)
{
	char err[512];
	SSL_CTX *ctx;

	if (tls_server_ensure_cert(cf->pop3_cert, cf->pop3_key, err, sizeof(err)) == -1) {
		log_error("main", "%s", err);
		return NULL;
	}
	if ((ctx = tls_server_ctx_new(cf->pop3_cert, cf->pop3_key, err, sizeof(err))) == NULL)
		log_error("main", "%s", err);
	return ctx;
}

struct insecure_ctx {
	struct store *st;
	const struct config *cf;
};

/* Accounts without certificate checks are named at every start. */
static int
warn_insecure(const struct store_account *a, void *arg)
{
	const struct insecure_ctx *ic = arg;
	struct store_account_trust t;
	const char *error;

	if (store_account_trust_get(ic->st, a->id, &t, &error) == 1 && t.insecure)
		log_warnx("main", "account %s/%s is INSECURE (its server certificate is not checked)%s",
		    a->owner, a->name, ic->cf->allow_insecure ? ": allowed by [sync] allow_insecure" :
		    ": its syncs are refused unless [sync] allow_insecure = yes");
	store_account_trust_clear(&t);
	return 0;
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *error;
	struct config *cf = NULL;
	struct store *st = NULL;
	struct crypto_box *box = NULL;
	struct sync *sync = NULL;
	struct pop3_server *srv = NULL;
	struct resolver *resolver = NULL;
	struct web *web = NULL;
	SSL_CTX *tls = NULL;
	sigset_t set;
	char err[512], *key_path = NULL;
	int ch, sig, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'h': fputs(serve_usage, stdout); return 0;
		default: fputs(serve_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(serve_usage, stderr);
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL)
		return 1;
	/* Signals are taken by sigwait() in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	msg_headers_init();

	if ((st = cmd_open_store(cf)) == NULL)
		goto out;
	if ((key_path = config_state_path(cf, "secret.key")) == NULL ||
	    crypto_box_open(key_path, &box, &error) == -1) {
		log_error("main", "%s", key_path ? error : "out of memory");
		goto out;
	}
	if ((tls = load_tls(cf)) == NULL)
		goto out;
	/* Every name popgate looks up goes through the resolver (DoH unless mode = system). */
	if (resolver_new(cf, &resolver, &error) == -1) {
		log_error("main", "resolver: %s", error);
		goto out;
	}
	if (cf->dns_mode == DNS_MODE_DOH)
		net_set_resolver(resolver_addrs_hook, resolver);
	filter_set_resolver(resolver);  /* DNSBL and URIBL, when zones are configured */
	if (sync_start(cf, box, &sync, &error) == -1) {
		log_error("main", "%s", error);
		goto out;
	}
	if (pop3_server_start(cf, sync, tls, &srv, err, sizeof(err)) == -1) {
		log_error("main", "%s", err);
		goto out;
	}
	if (web_start(cf, &web, err, sizeof(err)) == -1) {
		log_error("main", "web: %s", err);
		goto out;
	}
	if (web != NULL)
		log_info("main", "JSON API on http://%s/api/v1/", cf->web_listen);
	log_info("main", "popgate %s ready: state in %s, DNS %s, POP3 on %s%s%s%s%s", PACKAGE_VERSION,
	    cf->state_dir, cf->dns_mode == DNS_MODE_DOH ? "over HTTPS" : "by the system resolver",
	    cf->pop3_listen_count ? cf->pop3_listen[0] : "",
	    cf->pop3_listen_count ? " (STLS)" : "",
	    cf->pop3_listen_count && cf->pop3_listen_tls_count ? " and " : "",
	    cf->pop3_listen_tls_count ? cf->pop3_listen_tls[0] : "",
	    cf->pop3_listen_tls_count ? " (TLS)" : "");
	{
		/* The SSL_CERT_FILE/SSL_CERT_DIR trap: say so once, at start. */
		char envmsg[512];
		if (trust_env_override(envmsg, sizeof(envmsg)))
			log_warnx("main", "%s", envmsg);
	}
	{
		struct insecure_ctx ic = { st, cf };
		if (store_account_foreach(st, NULL, warn_insecure, &ic, &error) == -1)
			log_warnx("main", "listing accounts: %s", error);
	}
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			SSL_CTX *fresh = load_tls(cf);
			if (fresh != NULL) {
				pop3_server_set_tls(srv, fresh);
				SSL_CTX_free(fresh);
				log_info("main", "certificate reloaded from %s", cf->pop3_cert);
			} else
				log_warnx("main", "certificate reload failed; keeping the old one");
			continue;
		}
		log_info("main", "%s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
		break;
	}
	rc = 0;
out:
	web_stop(&web);
	pop3_server_stop(&srv);
	sync_stop(&sync);
	net_set_resolver(NULL, NULL);
	filter_shutdown();
	resolver_free(&resolver);
	SSL_CTX_free(tls);
	crypto_box_free(&box);
	free(key_path);
	store_close(&st);
	config_free(&cf);
	return rc;
}
