/*
 * diag: one JSON report on an upstream account. See diag.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "diag.h"
#include "log.h"
#include "net.h"
#include "pop3-client.h"
#include "tls.h"
#include "trust.h"

static const struct {
	enum pop3c_code code;
	const char *hint;
} hints[] = {
	{ POP3C_DNS_FAILED, "The host name does not resolve: check its spelling, and the [dns] settings." },
	{ POP3C_CONNECT_FAILED, "Nothing accepts connections there: check host and port (POP3 over TLS is "
	    "usually 995, POP3 with STLS 110) and any firewall." },
	{ POP3C_TLS_VERSION_MISMATCH, "The server and this account have no TLS version in common: widen "
	    "the account's TLS range to include the version the server speaks, or ask the provider to update." },
	{ POP3C_TLS_HANDSHAKE_FAILED, "The TLS handshake failed: check whether the port expects implicit "
	    "TLS or STLS." },
	{ POP3C_CERT_UNTRUSTED, "The certificate chain does not lead to a root in the trust store: choose "
	    "another store (mozilla), add the issuing CA to a custom store, or pin the server's key." },
	{ POP3C_CERT_SELF_SIGNED, "The server presents a self-signed certificate: trust it by adding it to "
	    "a custom store, or pin its key, after checking the fingerprint with the provider." },
	{ POP3C_CERT_EXPIRED, "The server's certificate is expired or not yet valid: tell the provider; "
	    "check this machine's clock too." },
	{ POP3C_CERT_NAME_MISMATCH, "The certificate is for other names: use a host name it lists (see "
	    "certificate.sans)." },
	{ POP3C_CERT_PIN_MISMATCH, "The server's key matches none of the pins: the server changed its key "
	    "(renewal?) or someone is in between; update the pin only after checking." },
	{ POP3C_PROTOCOL_ERROR, "The server did not speak POP3 as expected: is this a POP3 port?" },
	{ POP3C_AUTH_FAILED, "The server refused the login: check login and password (some providers "
	    "want an app password, or POP3 enabled in their settings)." },
	{ POP3C_AUTH_UNAVAILABLE, "The server does not offer the chosen login method: try auth \"auto\"." },
	{ POP3C_SERVER_TEMP, "The server reports a temporary problem (busy, mailbox in use): try later." },
	{ POP3C_TIMEOUT, "The server stopped answering within the timeout." },
};

const char *
diag_hint(enum pop3c_code code)
{
	for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
		if (hints[i].code == code)
			return hints[i].hint;
	return "";
}

/* jansson wants UTF-8: remote text that is not gets sanitised. */
static json_t *
str(const char *s)
{
	char safe[1024];
	json_t *j;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	return json_string(log_sanitize(s, strlen(s), sizeof safe - 4, safe, sizeof safe));
}

static json_t *
cert_json(X509 *x)
{
	struct trust_cert_info ci;
	json_t *o;

	if (trust_cert_info(x, &ci) == -1)
		return json_null();
	o = json_object();
	json_object_set_new(o, "subject", str(ci.subject));
	json_object_set_new(o, "issuer", str(ci.issuer));
	json_object_set_new(o, "not_before", str(ci.not_before));
	json_object_set_new(o, "not_after", str(ci.not_after));
	json_object_set_new(o, "expired", json_boolean(ci.not_after_unix < (int64_t)time(NULL)));
	json_object_set_new(o, "sha256", str(ci.sha256));
	json_object_set_new(o, "pin", str(ci.pin));
	json_object_set_new(o, "sans", str(ci.sans));
	json_object_set_new(o, "self_signed", json_boolean(ci.self_signed));
	json_object_set_new(o, "ca", json_boolean(ci.is_ca));
	return o;
}

static void
add_chain(json_t *r, STACK_OF(X509) *chain)
{
	json_t *arr = json_array();
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem;
	int i;

	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		json_array_append_new(arr, cert_json(sk_X509_value(chain, i)));
		if (bio != NULL)
			PEM_write_bio_X509(bio, sk_X509_value(chain, i));
	}
	if (i > 0)
		json_object_set_new(r, "certificate", json_incref(json_array_get(arr, 0)));
	json_object_set_new(r, "chain", arr);
	if (bio != NULL) {
		BIO_get_mem_ptr(bio, &mem);
		json_object_set_new(r, "chain_pem", json_stringn(mem->data, mem->length));
		BIO_free(bio);
	}
}

static void
add_addresses(json_t *r, const struct net_attempts *att)
{
	json_t *arr = json_array(), *o;
	char a[64];

	for (size_t i = 0; i < att->count; i++) {
		o = json_object();
		json_object_set_new(o, "address", str(net_addr_str(&att->a[i].addr, a, sizeof a)));
		json_object_set_new(o, "result", str(att->a[i].error == 0 ? "connected" :
		    att->a[i].timed_out ? "timed out" : strerror(att->a[i].error)));
		json_array_append_new(arr, o);
	}
	json_object_set_new(r, "addresses", arr);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* After a TLS failure: what does the server present, and in which version? */
static void
explain_tls(json_t *r, const struct pop3c_params *p)
{
	struct pop3c_failure pf;
	STACK_OF(X509) *chain = NULL;
	json_t *tls;
	int version;

	if (pop3c_probe_tls(p, 0, 0, &version, &chain, &pf) == -1) {
		json_object_set_new(r, "probe", str(pf.detail));
		return;
	}
	tls = json_object();
	json_object_set_new(tls, "version", str(tls_version_name(version)));
	json_object_set_new(tls, "verified", json_false());
	json_object_set_new(r, "tls", tls);
	add_chain(r, chain);
	sk_X509_pop_free(chain, X509_free);
}

json_t *
diag_upstream(const struct pop3c_params *p, const char *store_name)
{
	struct pop3c_failure f;
	struct net_attempts att;
	struct pop3c *c = NULL;
	json_t *r, *tls, *caps;
	STACK_OF(X509) *chain;
	char err[512], env[512], hint[1024];
	int64_t start = now_ms(), size;
	unsigned count;
	int ok;

	if ((r = json_object()) == NULL)
		return NULL;
	json_object_set_new(r, "host", str(p->host));
	json_object_set_new(r, "port", json_integer(p->port));
	json_object_set_new(r, "tls_mode", str(p->starttls ? "starttls" : "implicit"));
	json_object_set_new(r, "trust_store", str(store_name != NULL ? store_name :
	    p->ca_file != NULL ? p->ca_file : "system"));
	json_object_set_new(r, "tls_min", str(tls_version_name(p->min_tls ? p->min_tls : TLS1_2_VERSION)));
	json_object_set_new(r, "tls_max", str(tls_version_name(p->max_tls ? p->max_tls : TLS1_3_VERSION)));

	ok = pop3c_connect(p, &c, &f, &att) == 0;
	add_addresses(r, &att);
	if (ok) {
		tls = json_object();
		json_object_set_new(tls, "version", str(pop3c_tls_version(c)));
		json_object_set_new(tls, "cipher", str(pop3c_tls_cipher(c)));
		json_object_set_new(tls, "verified", json_true());
		json_object_set_new(r, "tls", tls);
		if ((chain = SSL_get_peer_cert_chain(pop3c_ssl(c))) != NULL)
			add_chain(r, chain);
		json_object_set_new(r, "greeting", str(pop3c_greeting(c)));
		json_object_set_new(r, "auth", str(pop3c_auth_used(c)));
		caps = json_array();
		for (size_t i = 0; i < pop3c_capa_count(c); i++)
			json_array_append_new(caps, str(pop3c_capa_line(c, i)));
		json_object_set_new(r, "capabilities", caps);
		if (pop3c_stat(c, &count, &size, err, sizeof err) == 0) {
			json_object_set_new(r, "messages", json_integer(count));
			json_object_set_new(r, "bytes", json_integer(size));
		}
		if (pop3c_last_failure(c)->code != POP3C_OK ||
		    pop3c_quit(c, err, sizeof err) == -1) {
			f = *pop3c_last_failure(c);
			ok = 0;
		}
	} else if (f.stage == POP3C_STAGE_TLS && f.code != POP3C_LOCAL_ERROR && f.code != POP3C_TIMEOUT)
		explain_tls(r, p);
	pop3c_free(&c);

	json_object_set_new(r, "ok", json_boolean(ok));
	if (!ok) {
		json_object_set_new(r, "stage", str(pop3c_stage_name(f.stage)));
		json_object_set_new(r, "code", str(pop3c_code_name(f.code)));
		json_object_set_new(r, "detail", str(f.detail));
		if (f.resp_code[0] != '\0')
			json_object_set_new(r, "response_code", str(f.resp_code));
		snprintf(hint, sizeof hint, "%s", diag_hint(f.code));
		if (f.code == POP3C_CERT_UNTRUSTED || f.code == POP3C_CERT_SELF_SIGNED)
			snprintf(hint + strlen(hint), sizeof hint - strlen(hint), " (trust store in use: %s)",
			    store_name != NULL ? store_name : p->ca_file != NULL ? p->ca_file : "system");
		json_object_set_new(r, "hint", str(hint));
	}
	json_object_set_new(r, "environment_override", json_boolean(trust_env_override(env, sizeof env)));
	json_object_set_new(r, "environment", str(env));
	json_object_set_new(r, "elapsed_ms", json_integer(now_ms() - start));
	return r;
}
