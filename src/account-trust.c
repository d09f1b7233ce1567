#include "account-trust.h"
#include "config.h"
#include "conn.h"
#include "net.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

void
account_trust_describe(const struct store_account_trust *s, const char *ca_file, char *buf, size_t size)
{
	size_t npins = 0;
	const char *p;

	for (p = s->pins; p != NULL && *p != '\0'; p++)
		if (*p == '\n' || p[1] == '\0')
			npins++;
	if (strcmp(s->trust, "system") == 0 && ca_file != NULL)
		snprintf(buf, size, "trust=file:%s", ca_file);
	else
		snprintf(buf, size, "trust=%s", s->trust);
	snprintf(buf + strlen(buf), size - strlen(buf), " tls=%s-%s pins=%zu%s%s%s", s->min_tls, s->max_tls,
	    npins, s->tofu ? " tofu" : "", s->pending_pin[0] ? " PENDING-NEW-KEY" : "",
	    s->insecure ? " INSECURE" : "");
}

static int
check_peer(void *arg, SSL *ssl, char *err, size_t errlen)
{
	struct account_trust *t = arg;
	X509 *leaf = SSL_get0_peer_certificate(ssl);

	t->seen_pin[0] = '\0';
	if (leaf != NULL && trust_spki_pin(leaf, t->seen_pin) == -1)
		t->seen_pin[0] = '\0';
	if (t->s.insecure)
		return 0;
	if (trust_pins_check(&t->tp, ssl, err, errlen) == 0)
		return 0;
	if (t->s.tofu) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, "; the server key changed since it was first seen: if the "
		    "provider confirms it, run popgate account set --accept-new-pin");
	}
	return -1;
}

int
account_trust_parse_pins(const char *text, char pins[][TRUST_PIN_SIZE], size_t max, char *err, size_t errlen)
{
	const char *p = text;
	size_t n = 0;

	while (p != NULL && *p != '\0') {
		char one[128];
		size_t len = strcspn(p, "\n");

		if (len >= sizeof(one)) {
			snprintf(err, errlen, "a pin line of %zu bytes is not a SHA-256 pin", len);
			return -1;
		}
		if (len > 0) {
			memcpy(one, p, len);
			one[len] = '\0';
			if (n == max) {
				snprintf(err, errlen, "more than %zu pins", max);
				return -1;
			}
			if (trust_pin_parse(one, pins[n]) == -1) {
				snprintf(err, errlen, "\"%.60s\" is not a SHA-256 pin", one);
				return -1;
			}
			n++;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return (int)n;
}

static int
parse_pins(struct account_trust *t, char *err, size_t errlen)
{
	int n = account_trust_parse_pins(t->s.pins, t->pins, ACCOUNT_TRUST_MAX_PINS, err, errlen);

	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++)
		t->pinv[i] = t->pins[i];
	t->tp.pins = t->pinv;
	t->tp.n = (size_t)n;
	return 0;
}

int
account_trust_load(struct store *st, const struct config *cf, const struct store_account *a,
    struct account_trust *t, char *err, size_t errlen)
{
	const char *error;
	char *pem = NULL;
	size_t len = 0;
	int r, kind;

	memset(t, 0, sizeof(*t));
	t->account_id = a->id;
	if ((r = store_account_trust_get(st, a->id, &t->s, &error)) != 1) {
		snprintf(err, errlen, "%s", r == 0 ? "no such account" : error);
		return -1;
	}
	account_trust_describe(&t->s, a->ca_file, t->desc, sizeof(t->desc));
	t->min_tls = tls_version_parse(t->s.min_tls);
	t->max_tls = tls_version_parse(t->s.max_tls);
	if (t->min_tls == -1 || t->max_tls == -1 || t->min_tls > t->max_tls) {
		snprintf(err, errlen, "the account's TLS versions %s-%s make no sense", t->s.min_tls, t->s.max_tls);
		goto fail;
	}
	if (parse_pins(t, err, errlen) == -1) {
		char why[200];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "the account's pins: %s", why);
		goto fail;
	}
	if (t->s.insecure) {
		t->insecure_allowed = cf != NULL && cf->allow_insecure;
		if (!t->insecure_allowed) {
			snprintf(err, errlen, "the account is marked insecure (no certificate checks) and "
			    "[sync] allow_insecure is not yes: refused (popgate account set --secure to "
			    "check certificates again)");
			account_trust_clear(t);
			return -2;
		}
		return 0;
	}
	if ((kind = trust_kind_parse(t->s.trust)) == TRUST_SYSTEM && a->ca_file != NULL) {
		t->ca_file = a->ca_file;
		return 0;
	}
	if (kind == -1 || kind == TRUST_CUSTOM) {
		if ((r = store_trust_pem(st, t->s.trust, &pem, &len, &error)) != 1) {
			snprintf(err, errlen, "%s", r == 0 ? "the account's trust store does not exist" : error);
			if (r == 0)
				snprintf(err, errlen, "the account's trust store \"%s\" does not exist "
				    "(popgate trust add %s PEMFILE)", t->s.trust, t->s.trust);
			goto fail;
		}
		if (len == 0) {
			snprintf(err, errlen, "trust store \"%s\" holds no certificates", t->s.trust);
			free(pem);
			goto fail;
		}
		kind = TRUST_CUSTOM;
	}
	t->x509 = trust_store_new((enum trust_kind)kind, pem, len, NULL, &t->certs, err, errlen);
	free(pem);
	if (t->x509 == NULL)
		goto fail;
	return 0;
fail:
	account_trust_clear(t);
	return -1;
}

void
account_trust_params(struct account_trust *t, struct pop3c_params *p)
{
	p->store = t->x509;
	p->ca_file = t->ca_file;
	p->min_tls = t->min_tls;
	p->max_tls = t->max_tls;
	p->insecure = t->s.insecure && t->insecure_allowed;
	p->check_peer = check_peer;
	p->check_peer_arg = t;
}

void
account_pop3c_params(const struct store_account *a, const char *password, int timeout_ms,
    struct account_trust *t, struct pop3c_params *p)
{
	memset(p, 0, sizeof(*p));
	p->host = a->host;
	p->port = a->port;
	p->starttls = a->tls == STORE_TLS_STARTTLS;
	p->login = a->login;
	p->password = password;
	p->auth = a->auth;
	p->timeout_ms = timeout_ms;
	account_trust_params(t, p);
}

int
account_trust_done(struct store *st, struct account_trust *t, const struct pop3c_failure *f, int ok,
    char *note, size_t notelen, char *err, size_t errlen)
{
	const char *error;
	int r;

	if (note != NULL && notelen > 0)
		note[0] = '\0';
	if (!t->s.tofu || t->seen_pin[0] == '\0' || t->s.insecure)
		return 0;
	if (ok && t->tp.n == 0) {
		if ((r = store_account_trust_record_pin(st, t->account_id, t->seen_pin, &error)) == -1) {
			snprintf(err, errlen, "recording the server key: %s", error);
			return -1;
		}
		if (r == 1 && note != NULL)
			snprintf(note, notelen, "first use: the server key %s is now pinned", t->seen_pin);
	} else if (!ok && f != NULL && f->code == POP3C_CERT_PIN_MISMATCH &&
	    strcmp(t->s.pending_pin, t->seen_pin) != 0) {
		if (store_account_trust_set_pending(st, t->account_id, t->seen_pin, &error) == -1) {
			snprintf(err, errlen, "recording the new server key: %s", error);
			return -1;
		}
		if (note != NULL)
			snprintf(note, notelen, "the new server key %s waits for account set --accept-new-pin",
			    t->seen_pin);
	} else if (ok && t->s.pending_pin[0] != '\0' && strcmp(t->s.pending_pin, t->seen_pin) != 0) {
		/* The old key is back: nothing is pending any more. */
		if (store_account_trust_set_pending(st, t->account_id, "", &error) == -1) {
			snprintf(err, errlen, "%s", error);
			return -1;
		}
	}
	return 0;
}

void
account_trust_clear(struct account_trust *t)
{
	X509_STORE_free(t->x509);
	store_account_trust_clear(&t->s);
	memset(t, 0, sizeof(*t));
}

const char *
account_trust_code(enum pop3c_stage stage, enum pop3c_code code)
{
	switch (code) {
	case POP3C_OK:
		return "ok";
	case POP3C_DNS_FAILED:
		return "dns_failed";
	case POP3C_CONNECT_FAILED:
		return "connect_failed";
	case POP3C_TLS_VERSION_MISMATCH:
		return "tls_version_mismatch";
	case POP3C_TLS_HANDSHAKE_FAILED:
		return "tls_handshake_failed";
	case POP3C_CERT_UNTRUSTED:
		return "cert_untrusted";
	case POP3C_CERT_SELF_SIGNED:
		return "cert_self_signed";
	case POP3C_CERT_EXPIRED:
		return "cert_expired";
	case POP3C_CERT_NAME_MISMATCH:
		return "cert_name_mismatch";
	case POP3C_CERT_PIN_MISMATCH:
		return "pin_mismatch";
	case POP3C_AUTH_FAILED:
	case POP3C_AUTH_UNAVAILABLE:
		return "auth_failed";
	case POP3C_TIMEOUT:
		if (stage == POP3C_STAGE_DNS)
			return "dns_failed";
		if (stage == POP3C_STAGE_CONNECT)
			return "connect_failed";
		if (stage == POP3C_STAGE_TLS)
			return "tls_handshake_failed";
		return "pop3_protocol_error";
	default:
		return "pop3_protocol_error";
	}
}

int
account_trust_fetch(const char *host, int port, int starttls, int timeout_ms,
    struct account_trust_fetch *out, char *err, size_t errlen)
{
	struct net_attempts att;
	struct conn *conn = NULL;
	SSL_CTX *ctx = NULL;
	SSL *ssl;
	char line[512];
	int fd, rc = -1;

	memset(out, 0, sizeof(*out));
	if ((fd = net_connect(host, port, timeout_ms, &att)) == -1) {
		snprintf(err, errlen, "%s", att.error);
		return -1;
	}
	if ((conn = conn_new(fd)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (starttls) {
		if (conn_read_line(conn, line, sizeof(line), timeout_ms) <= 0 || strncmp(line, "+OK", 3) != 0) {
			snprintf(err, errlen, "no POP3 greeting from %s:%d", host, port);
			goto out;
		}
		if (conn_printf(conn, timeout_ms, "STLS\r\n") != 0 || conn_flush(conn, timeout_ms) != 0 ||
		    conn_read_line(conn, line, sizeof(line), timeout_ms) <= 0 || strncmp(line, "+OK", 3) != 0) {
			snprintf(err, errlen, "the server refused STLS");
			goto out;
		}
		conn_discard_input(conn);
	}
	if ((ctx = tls_probe_ctx_new(0, 0, err, errlen)) == NULL)
		goto out;
	if (conn_tls_connect(conn, ctx, host, timeout_ms) != 0) {
		snprintf(err, errlen, "TLS handshake with %s:%d failed: %s", host, port, conn_error(conn));
		goto out;
	}
	ssl = conn_ssl(conn);
	out->version_num = SSL_version(ssl);
	snprintf(out->version, sizeof(out->version), "%s", SSL_get_version(ssl));
	snprintf(out->cipher, sizeof(out->cipher), "%s", SSL_get_cipher_name(ssl));
	if ((out->chain_pem = trust_peer_chain_pem(ssl, &out->chain_len)) == NULL) {
		snprintf(err, errlen, "the server presented no certificate");
		goto out;
	}
	rc = 0;
out:
	conn_free(&conn);
	SSL_CTX_free(ctx);
	return rc;
}

void
account_trust_fetch_clear(struct account_trust_fetch *out)
{
	free(out->chain_pem);
	memset(out, 0, sizeof(*out));
}

STACK_OF(X509) *
account_trust_pem_chain(const char *pem, size_t len)
{
	STACK_OF(X509) *sk;
	BIO *bio;
	X509 *x;

	if (len > INT32_MAX || (sk = sk_X509_new_null()) == NULL)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		sk_X509_free(sk);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(sk, x) == 0) {
			X509_free(x);
			break;
		}
	}
	ERR_clear_error();
	BIO_free(bio);
	return sk;
}
