/*
 * pop3-client: one upstream POP3 session. See pop3-client.h.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conn.h"
#include "log.h"
#include "net.h"
#include "pop3-client.h"
#include "tls.h"

#define POP3C_LINE_MAX		1024	/* status and listing lines (RFC: 512) */
#define POP3C_CAPA_MAX		64
#define POP3C_MSGS_MAX		1000000
#define POP3C_UIDL_MAX		256
#define POP3C_CMD_MAX		255	/* RFC 2449: command line limit */
#define POP3C_DEFAULT_TIMEOUT	60000
#define POP3C_PART		8192
#define POP3C_OUT		65536	/* bytes written to the spool at a time */

struct pop3c {
	struct conn		*conn;
	SSL_CTX			*ctx;
	int			 timeout;
	int			 broken;	/* out of sync with the server */
	int			 quit;
	char			 greeting[256];
	char			 apop_ts[256];
	char			*capa[POP3C_CAPA_MAX];
	size_t			 ncapa;
	char			 tls_version[16];
	char			 tls_cipher[64];
	const char		*auth_used;
	struct pop3c_failure	 fail;
};

static const char *const code_names[] = {
	[POP3C_OK] = "ok",
	[POP3C_DNS_FAILED] = "dns_failed",
	[POP3C_CONNECT_FAILED] = "connect_failed",
	[POP3C_TLS_VERSION_MISMATCH] = "tls_version_mismatch",
	[POP3C_TLS_HANDSHAKE_FAILED] = "tls_handshake_failed",
	[POP3C_CERT_UNTRUSTED] = "cert_untrusted",
	[POP3C_CERT_SELF_SIGNED] = "cert_self_signed",
	[POP3C_CERT_EXPIRED] = "cert_expired",
	[POP3C_CERT_NAME_MISMATCH] = "cert_name_mismatch",
	[POP3C_CERT_PIN_MISMATCH] = "pin_mismatch",
	[POP3C_PROTOCOL_ERROR] = "pop3_protocol_error",
	[POP3C_AUTH_FAILED] = "auth_failed",
	[POP3C_AUTH_UNAVAILABLE] = "auth_unavailable",
	[POP3C_SERVER_TEMP] = "server_temporary_failure",
	[POP3C_SERVER_ERROR] = "server_error",
	[POP3C_TIMEOUT] = "timeout",
	[POP3C_TOO_BIG] = "message_too_big",
	[POP3C_LOCAL_ERROR] = "local_error",
};
_Static_assert(sizeof code_names / sizeof code_names[0] == POP3C_LOCAL_ERROR + 1, "code names");

static const char *const stage_names[] = {
	[POP3C_STAGE_NONE] = "none",
	[POP3C_STAGE_DNS] = "dns",
	[POP3C_STAGE_CONNECT] = "connect",
	[POP3C_STAGE_TLS] = "tls",
	[POP3C_STAGE_GREETING] = "greeting",
	[POP3C_STAGE_AUTH] = "auth",
	[POP3C_STAGE_COMMAND] = "command",
};
_Static_assert(sizeof stage_names / sizeof stage_names[0] == POP3C_STAGE_COMMAND + 1, "stage names");

const char *
pop3c_code_name(enum pop3c_code code)
{
	if ((unsigned)code > POP3C_LOCAL_ERROR)
		return "unknown";
	return code_names[code];
}

const char *
pop3c_stage_name(enum pop3c_stage stage)
{
	if ((unsigned)stage > POP3C_STAGE_COMMAND)
		return "unknown";
	return stage_names[stage];
}

static void set_fail(struct pop3c_failure *f, enum pop3c_stage stage, enum pop3c_code code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
set_fail(struct pop3c_failure *f, enum pop3c_stage stage, enum pop3c_code code, const char *fmt, ...)
{
	va_list ap;

	f->stage = stage;
	f->code = code;
	f->resp_code[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof f->detail, fmt, ap);
	va_end(ap);
}

static void
fail_to_err(const struct pop3c_failure *f, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", pop3c_code_name(f->code), f->detail);
}

/* A conn failure while waiting for or sending something. */
static void
fail_io(struct pop3c_failure *f, struct conn *conn, enum pop3c_stage stage, int r, const char *what)
{
	switch (r) {
	case CONN_TIMEOUT:
		set_fail(f, stage, POP3C_TIMEOUT, "timed out waiting for %s", what);
		break;
	case CONN_EOF:
		set_fail(f, stage, POP3C_PROTOCOL_ERROR, "server closed the connection (waiting for %s)", what);
		break;
	case CONN_TOOLONG:
		set_fail(f, stage, POP3C_PROTOCOL_ERROR, "line too long in %s", what);
		break;
	default:
		set_fail(f, stage, POP3C_PROTOCOL_ERROR, "%s (waiting for %s)", conn_error(conn), what);
		break;
	}
}

/* Reads a status line into line. 0 with *st filled, or -1 with f set. */
static int
read_status(struct conn *conn, int timeout, struct pop3c_failure *f, enum pop3c_stage stage,
    const char *what, char *line, size_t size, struct pop3c_status *st)
{
	char safe[200];
	ssize_t n;

	if ((n = conn_read_line(conn, line, size, timeout)) < 0) {
		fail_io(f, conn, stage, (int)n, what);
		return -1;
	}
	if (pop3c_parse_status(line, st) == -1) {
		set_fail(f, stage, POP3C_PROTOCOL_ERROR, "not a POP3 reply to %s: \"%s\"", what,
		    log_sanitize(line, (size_t)n, 100, safe, sizeof safe));
		return -1;
	}
	return 0;
}

/* Turns a -ERR (or a surprising continuation) into a failure. */
static void
fail_reply(struct pop3c_failure *f, enum pop3c_stage stage, const char *what, const struct pop3c_status *st)
{
	enum pop3c_code code;
	char safe[300];

	if (st->cont) {
		set_fail(f, stage, POP3C_PROTOCOL_ERROR, "unexpected continuation in reply to %s", what);
		return;
	}
	if (strcasecmp(st->code, "SYS/TEMP") == 0 || strcasecmp(st->code, "IN-USE") == 0 ||
	    strcasecmp(st->code, "LOGIN-DELAY") == 0)
		code = POP3C_SERVER_TEMP;
	else if (stage == POP3C_STAGE_AUTH || strcasecmp(st->code, "AUTH") == 0)
		code = POP3C_AUTH_FAILED;
	else if (stage == POP3C_STAGE_GREETING)
		code = POP3C_SERVER_TEMP;
	else
		code = POP3C_SERVER_ERROR;
	log_sanitize(st->text, strlen(st->text), 200, safe, sizeof safe);
	set_fail(f, stage, code, "%s refused: -ERR %s%s%s%s", what,
	    st->code[0] ? "[" : "", st->code, st->code[0] ? "] " : "", safe);
	snprintf(f->resp_code, sizeof f->resp_code, "%s", st->code);
}

static int
send_line(struct conn *conn, int timeout, struct pop3c_failure *f, enum pop3c_stage stage,
    const char *what, const char *line)
{
	int r;

	if ((r = conn_printf(conn, timeout, "%s\r\n", line)) != 0 || (r = conn_flush(conn, timeout)) != 0) {
		fail_io(f, conn, stage, r, what);
		return -1;
	}
	return 0;
}

/* Sends cmd and expects +OK. what names it in errors (never the password). */
static int
simple_cmd(struct pop3c *c, enum pop3c_stage stage, const char *what, const char *cmd, char *line, size_t size)
{
	struct pop3c_status st;

	if (send_line(c->conn, c->timeout, &c->fail, stage, what, cmd) == -1 ||
	    read_status(c->conn, c->timeout, &c->fail, stage, what, line, size, &st) == -1) {
		c->broken = 1;
		return -1;
	}
	if (!st.ok) {
		fail_reply(&c->fail, stage, what, &st);
		return -1;
	}
	return 0;
}

/* ---- connecting ---- */

static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void
step(const struct pop3c_params *p, const char *what)
{
	if (p->step_done != NULL)
		p->step_done(p->step_arg, what);
}

static enum pop3c_code
tls_code(enum tls_failure t)
{
	switch (t) {
	case TLS_FAIL_VERSION:
		return POP3C_TLS_VERSION_MISMATCH;
	case TLS_FAIL_UNTRUSTED:
		return POP3C_CERT_UNTRUSTED;
	case TLS_FAIL_SELF_SIGNED:
		return POP3C_CERT_SELF_SIGNED;
	case TLS_FAIL_EXPIRED:
		return POP3C_CERT_EXPIRED;
	case TLS_FAIL_NAME:
		return POP3C_CERT_NAME_MISMATCH;
	default:
		return POP3C_TLS_HANDSHAKE_FAILED;
	}
}

/*
 * Connects and brings TLS up (after the greeting and STLS when starttls),
 * reading the greeting into greeting. *tls_fail_r tells how TLS failed.
 */
static int
open_stream(const struct pop3c_params *p, SSL_CTX *ctx, int timeout, struct conn **conn_r,
    char *greeting, size_t gsize, struct pop3c_failure *f, struct net_attempts *att,
    enum tls_failure *tls_fail_r)
{
	struct pop3c_status st;
	struct conn *conn;
	char line[POP3C_LINE_MAX];
	int fd, r;

	*conn_r = NULL;
	*tls_fail_r = TLS_FAIL_NONE;
	if ((fd = net_connect(p->host, p->port, timeout, att)) == -1) {
		if (att->dns_failed)
			set_fail(f, POP3C_STAGE_DNS, POP3C_DNS_FAILED, "%s", att->error);
		else
			set_fail(f, POP3C_STAGE_CONNECT, POP3C_CONNECT_FAILED, "%s", att->error);
		return -1;
	}
	if ((conn = conn_new(fd)) == NULL) {
		close(fd);
		set_fail(f, POP3C_STAGE_CONNECT, POP3C_LOCAL_ERROR, "out of memory");
		return -1;
	}
	step(p, "connect");
	if (p->starttls) {
		if (read_status(conn, timeout, f, POP3C_STAGE_GREETING, "the greeting", line, sizeof line, &st) == -1)
			goto fail;
		if (!st.ok) {
			fail_reply(f, POP3C_STAGE_GREETING, "connection", &st);
			goto fail;
		}
		copy_str(greeting, gsize, line);
		step(p, "greeting");
		if (send_line(conn, timeout, f, POP3C_STAGE_TLS, "STLS", "STLS") == -1 ||
		    read_status(conn, timeout, f, POP3C_STAGE_TLS, "STLS", line, sizeof line, &st) == -1)
			goto fail;
		if (!st.ok) {
			fail_reply(f, POP3C_STAGE_TLS, "STLS", &st);
			f->code = POP3C_TLS_HANDSHAKE_FAILED;
			snprintf(f->detail + strlen(f->detail), sizeof f->detail - strlen(f->detail),
			    " (the server offers no STLS: use implicit TLS?)");
			goto fail;
		}
		/* RFC 2595: nothing sent before TLS may be trusted after it. */
		conn_discard_input(conn);
	}
	if ((r = conn_tls_connect(conn, ctx, p->host, timeout)) != 0) {
		if (r == CONN_TIMEOUT)
			set_fail(f, POP3C_STAGE_TLS, POP3C_TIMEOUT, "TLS handshake timed out");
		else {
			*tls_fail_r = tls_classify(conn_ssl_error(conn), conn_verify_result(conn));
			set_fail(f, POP3C_STAGE_TLS, tls_code(*tls_fail_r), "%s", conn_error(conn));
			if (*tls_fail_r == TLS_FAIL_HANDSHAKE && strstr(conn_error(conn), "wrong version number"))
				snprintf(f->detail + strlen(f->detail), sizeof f->detail - strlen(f->detail),
				    " (the server did not answer in TLS: %s?)",
				    p->starttls ? "not a POP3 port" : "a plain POP3 port, use STLS");
		}
		goto fail;
	}
	step(p, "tls");
	if (!p->starttls) {
		if (read_status(conn, timeout, f, POP3C_STAGE_GREETING, "the greeting", line, sizeof line, &st) == -1)
			goto fail;
		if (!st.ok) {
			fail_reply(f, POP3C_STAGE_GREETING, "connection", &st);
			goto fail;
		}
		copy_str(greeting, gsize, line);
		step(p, "greeting");
	}
	*conn_r = conn;
	return 0;
fail:
	conn_free(&conn);
	return -1;
}

/*
 * The handshake failed with a bare EOF or a version alert. A server capped
 * at other versions often just hangs up, and OpenSSL then only says
 * "unexpected eof". Connect once more offering every version, without
 * verification and without sending anything but the handshake, and see
 * which version the server picks.
 */
static void
probe_versions(const struct pop3c_params *p, int timeout, int min, int max, struct pop3c_failure *f)
{
	struct pop3c_failure pf;
	struct net_attempts att;
	enum tls_failure tf;
	struct conn *conn = NULL;
	SSL_CTX *ctx;
	char err[256], greeting[256];
	int v;
	struct pop3c_params quiet = *p;

	quiet.step_done = NULL;
	if ((ctx = tls_probe_ctx_new(0, 0, err, sizeof err)) == NULL)
		return;
	memset(&pf, 0, sizeof pf);
	if (open_stream(&quiet, ctx, timeout, &conn, greeting, sizeof greeting, &pf, &att, &tf) == 0) {
		v = SSL_version(conn_ssl(conn));
		if (v < min || v > max) {
			/* f->detail is both an argument and the target: copy it first. */
			char was[sizeof f->detail];
			memcpy(was, f->detail, sizeof was);
			set_fail(f, POP3C_STAGE_TLS, POP3C_TLS_VERSION_MISMATCH,
			    "the server speaks %s, popgate allows %s to %s for this account (%s)",
			    tls_version_name(v), tls_version_name(min), tls_version_name(max), was);
		} else if (f->code == POP3C_TLS_HANDSHAKE_FAILED)
			snprintf(f->detail + strlen(f->detail), sizeof f->detail - strlen(f->detail),
			    " (a probe with %s worked: retry?)", tls_version_name(v));
	} else if (f->code == POP3C_TLS_HANDSHAKE_FAILED && pf.stage == POP3C_STAGE_TLS)
		snprintf(f->detail + strlen(f->detail), sizeof f->detail - strlen(f->detail),
		    " (no TLS version from 1.0 to 1.3 works either: %s)", pf.detail);
	conn_free(&conn);
	SSL_CTX_free(ctx);
}

int
pop3c_probe_tls(const struct pop3c_params *p, int min, int max, int *version_r,
    STACK_OF(X509) **chain_r, struct pop3c_failure *f)
{
	struct net_attempts att;
	enum tls_failure tf;
	struct conn *conn = NULL;
	STACK_OF(X509) *chain;
	SSL_CTX *ctx;
	char err[256], greeting[256];
	int timeout = p->timeout_ms > 0 ? p->timeout_ms : POP3C_DEFAULT_TIMEOUT;
	struct pop3c_params quiet = *p;

	quiet.step_done = NULL;
	memset(f, 0, sizeof *f);
	*chain_r = NULL;
	if ((ctx = tls_probe_ctx_new(min, max, err, sizeof err)) == NULL) {
		set_fail(f, POP3C_STAGE_TLS, POP3C_LOCAL_ERROR, "%s", err);
		return -1;
	}
	if (open_stream(&quiet, ctx, timeout, &conn, greeting, sizeof greeting, f, &att, &tf) == -1) {
		SSL_CTX_free(ctx);
		return -1;
	}
	*version_r = SSL_version(conn_ssl(conn));
	if ((chain = SSL_get_peer_cert_chain(conn_ssl(conn))) != NULL)
		*chain_r = X509_chain_up_ref(chain);
	conn_free(&conn);
	SSL_CTX_free(ctx);
	return 0;
}

size_t
pop3c_capa_count(const struct pop3c *c)
{
	return c->ncapa;
}

const char *
pop3c_capa_line(const struct pop3c *c, size_t i)
{
	return i < c->ncapa ? c->capa[i] : NULL;
}

static void
capa_clear(struct pop3c *c)
{
	for (size_t i = 0; i < c->ncapa; i++)
		free(c->capa[i]);
	c->ncapa = 0;
}

static int
read_capa(struct pop3c *c)
{
	struct pop3c_status st;
	char line[POP3C_LINE_MAX];
	ssize_t n;

	capa_clear(c);
	if (send_line(c->conn, c->timeout, &c->fail, POP3C_STAGE_GREETING, "CAPA", "CAPA") == -1 ||
	    read_status(c->conn, c->timeout, &c->fail, POP3C_STAGE_GREETING, "CAPA", line, sizeof line, &st) == -1)
		return -1;
	if (!st.ok)
		return 0;	/* an RFC 1939 server: no capabilities known */
	for (;;) {
		n = conn_read_line(c->conn, line, sizeof line, c->timeout);
		if (n == CONN_TOOLONG)
			continue;
		if (n < 0) {
			fail_io(&c->fail, c->conn, POP3C_STAGE_GREETING, (int)n, "the CAPA list");
			return -1;
		}
		if (strcmp(line, ".") == 0)
			return 0;
		if (c->ncapa < POP3C_CAPA_MAX && (c->capa[c->ncapa] = strdup(line[0] == '.' ? line + 1 : line)) != NULL)
			c->ncapa++;
	}
}

int
pop3c_has_capa(const struct pop3c *c, const char *name)
{
	const char *arg = strchr(name, ' '), *p, *w;
	size_t klen = arg != NULL ? (size_t)(arg - name) : strlen(name), alen, wlen;

	if (arg != NULL)
		arg++;
	for (size_t i = 0; i < c->ncapa; i++) {
		p = c->capa[i];
		if (strncasecmp(p, name, klen) != 0 || (p[klen] != '\0' && p[klen] != ' '))
			continue;
		if (arg == NULL)
			return 1;
		alen = strlen(arg);
		for (w = p + klen; *w != '\0';) {
			while (*w == ' ')
				w++;
			wlen = strcspn(w, " ");
			if (wlen == alen && strncasecmp(w, arg, alen) == 0)
				return 1;
			w += wlen;
		}
	}
	return 0;
}

/* ---- login ---- */

static int
has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static int
login_user(struct pop3c *c, const struct pop3c_params *p, char *line, size_t size)
{
	char cmd[POP3C_LINE_MAX];
	int r;

	snprintf(cmd, sizeof cmd, "USER %s", p->login);
	if (simple_cmd(c, POP3C_STAGE_AUTH, "USER", cmd, line, size) == -1)
		return -1;
	snprintf(cmd, sizeof cmd, "PASS %s", p->password);
	r = simple_cmd(c, POP3C_STAGE_AUTH, "PASS", cmd, line, size);
	OPENSSL_cleanse(cmd, sizeof cmd);
	c->auth_used = "user";
	return r;
}

static int
login_plain(struct pop3c *c, const struct pop3c_params *p, char *line, size_t size)
{
	struct pop3c_status st;
	size_t llen = strlen(p->login), plen = strlen(p->password), rawlen = llen + plen + 2;
	unsigned char raw[POP3C_LINE_MAX];
	char b64[POP3C_LINE_MAX * 2], cmd[POP3C_LINE_MAX * 2];
	int r = -1;

	if (rawlen > sizeof raw || 4 * ((rawlen + 2) / 3) + 16 > sizeof b64) {
		set_fail(&c->fail, POP3C_STAGE_AUTH, POP3C_LOCAL_ERROR, "login or password too long");
		return -1;
	}
	/* RFC 4616: authzid (empty) NUL authcid NUL passwd. */
	raw[0] = '\0';
	memcpy(raw + 1, p->login, llen);
	raw[1 + llen] = '\0';
	memcpy(raw + 2 + llen, p->password, plen);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)rawlen);
	c->auth_used = "plain";
	if (!p->no_sasl_ir && strlen("AUTH PLAIN ") + strlen(b64) <= POP3C_CMD_MAX) {
		/* RFC 5034: the initial response rides on the command. */
		snprintf(cmd, sizeof cmd, "AUTH PLAIN %s", b64);
		r = simple_cmd(c, POP3C_STAGE_AUTH, "AUTH PLAIN", cmd, line, size);
		goto done;
	}
	if (send_line(c->conn, c->timeout, &c->fail, POP3C_STAGE_AUTH, "AUTH PLAIN", "AUTH PLAIN") == -1 ||
	    read_status(c->conn, c->timeout, &c->fail, POP3C_STAGE_AUTH, "AUTH PLAIN", line, size, &st) == -1) {
		c->broken = 1;
		goto done;
	}
	if (!st.cont) {
		if (st.ok)
			set_fail(&c->fail, POP3C_STAGE_AUTH, POP3C_PROTOCOL_ERROR, "+OK to AUTH PLAIN without credentials");
		else
			fail_reply(&c->fail, POP3C_STAGE_AUTH, "AUTH PLAIN", &st);
		goto done;
	}
	r = simple_cmd(c, POP3C_STAGE_AUTH, "AUTH PLAIN", b64, line, size);
done:
	OPENSSL_cleanse(raw, sizeof raw);
	OPENSSL_cleanse(b64, sizeof b64);
	OPENSSL_cleanse(cmd, sizeof cmd);
	return r;
}

static int
login_apop(struct pop3c *c, const struct pop3c_params *p, char *line, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], cmd[POP3C_LINE_MAX];
	EVP_MD_CTX *mctx;
	EVP_MD *md5;
	int ok;

	if (c->apop_ts[0] == '\0') {
		set_fail(&c->fail, POP3C_STAGE_AUTH, POP3C_AUTH_UNAVAILABLE,
		    "APOP asked for, but the greeting has no timestamp");
		return -1;
	}
	/* RFC 1939 section 7: MD5(timestamp password). */
	md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	mctx = EVP_MD_CTX_new();
	ok = md5 != NULL && mctx != NULL && EVP_DigestInit_ex(mctx, md5, NULL) == 1 &&
	    EVP_DigestUpdate(mctx, c->apop_ts, strlen(c->apop_ts)) == 1 &&
	    EVP_DigestUpdate(mctx, p->password, strlen(p->password)) == 1 &&
	    EVP_DigestFinal_ex(mctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(mctx);
	EVP_MD_free(md5);
	if (!ok) {
		set_fail(&c->fail, POP3C_STAGE_AUTH, POP3C_LOCAL_ERROR, "MD5 is not available for APOP");
		return -1;
	}
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(cmd, sizeof cmd, "APOP %s %s", p->login, hex);
	c->auth_used = "apop";
	return simple_cmd(c, POP3C_STAGE_AUTH, "APOP", cmd, line, size);
}

static int
login(struct pop3c *c, const struct pop3c_params *p)
{
	const char *auth = p->auth != NULL ? p->auth : "auto";
	char line[POP3C_LINE_MAX];

	if (p->login == NULL || p->password == NULL || has_crlf(p->login) || has_crlf(p->password)) {
		set_fail(&c->fail, POP3C_STAGE_AUTH, POP3C_LOCAL_ERROR, "login or password missing or holds a line break");
		return -1;
	}
	if (strcasecmp(auth, "auto") == 0)
		auth = pop3c_has_capa(c, "SASL PLAIN") ? "plain" : "user";
	if (strcasecmp(auth, "user") == 0)
		return login_user(c, p, line, sizeof line);
	if (strcasecmp(auth, "plain") == 0)
		return login_plain(c, p, line, sizeof line);
	if (strcasecmp(auth, "apop") == 0)
		return login_apop(c, p, line, sizeof line);
	set_fail(&c->fail, POP3C_STAGE_AUTH, POP3C_LOCAL_ERROR, "unknown auth method \"%s\"", auth);
	return -1;
}

int
pop3c_connect(const struct pop3c_params *p, struct pop3c **c_r, struct pop3c_failure *f,
    struct net_attempts *att)
{
	struct tls_client_opts o;
	struct net_attempts dummy;
	enum tls_failure tf;
	struct pop3c *c;
	char err[512];
	SSL *ssl;
	int min, max, r;

	*c_r = NULL;
	memset(f, 0, sizeof *f);
	if (att == NULL)
		att = &dummy;
	if ((c = calloc(1, sizeof *c)) == NULL) {
		set_fail(f, POP3C_STAGE_NONE, POP3C_LOCAL_ERROR, "out of memory");
		return -1;
	}
	c->timeout = p->timeout_ms > 0 ? p->timeout_ms : POP3C_DEFAULT_TIMEOUT;
	min = p->min_tls ? p->min_tls : TLS1_2_VERSION;
	max = p->max_tls ? p->max_tls : TLS1_3_VERSION;
	memset(&o, 0, sizeof o);
	o.store = p->store;
	o.ca_file = p->ca_file;
	o.min_version = min;
	o.max_version = max;
	o.insecure = p->insecure;
	if ((c->ctx = tls_client_ctx_new(&o, err, sizeof err)) == NULL) {
		set_fail(f, POP3C_STAGE_TLS, POP3C_LOCAL_ERROR, "%s", err);
		goto fail;
	}
	if (open_stream(p, c->ctx, c->timeout, &c->conn, c->greeting, sizeof c->greeting, f, att, &tf) == -1) {
		if (tf == TLS_FAIL_EOF || tf == TLS_FAIL_VERSION)
			probe_versions(p, c->timeout, min, max, f);
		goto fail;
	}
	ssl = conn_ssl(c->conn);
	snprintf(c->tls_version, sizeof c->tls_version, "%s", SSL_get_version(ssl));
	snprintf(c->tls_cipher, sizeof c->tls_cipher, "%s", SSL_get_cipher_name(ssl));
	if (p->check_peer != NULL && (r = p->check_peer(p->check_peer_arg, ssl, err, sizeof err)) != 0) {
		set_fail(f, POP3C_STAGE_TLS, POP3C_CERT_PIN_MISMATCH, "%s", err);
		goto fail;
	}
	if (pop3c_apop_timestamp(c->greeting, c->apop_ts, sizeof c->apop_ts) == -1)
		c->apop_ts[0] = '\0';
	{
		/* Keep a printable copy only: it may be shown to people. */
		char safe[sizeof c->greeting];
		log_sanitize(c->greeting, strlen(c->greeting), 200, safe, sizeof safe);
		memcpy(c->greeting, safe, sizeof safe);
	}
	if (read_capa(c) == -1) {
		*f = c->fail;
		goto fail;
	}
	step(p, "capa");
	if (login(c, p) == -1) {
		*f = c->fail;
		goto fail;
	}
	step(p, "login");
	*c_r = c;
	return 0;
fail:
	pop3c_free(&c);
	return -1;
}

int
pop3c_open(const struct pop3c_params *p, struct pop3c **c_r, char *err, size_t errlen)
{
	struct pop3c_failure f;

	if (pop3c_connect(p, c_r, &f, NULL) == -1) {
		fail_to_err(&f, err, errlen);
		return -1;
	}
	return 0;
}

const struct pop3c_failure *
pop3c_last_failure(const struct pop3c *c)
{
	return &c->fail;
}

const char *
pop3c_greeting(const struct pop3c *c)
{
	return c->greeting;
}

const char *
pop3c_tls_version(const struct pop3c *c)
{
	return c->tls_version;
}

const char *
pop3c_tls_cipher(const struct pop3c *c)
{
	return c->tls_cipher;
}

const char *
pop3c_auth_used(const struct pop3c *c)
{
	return c->auth_used != NULL ? c->auth_used : "";
}

SSL *
pop3c_ssl(const struct pop3c *c)
{
	return c->conn != NULL ? conn_ssl(c->conn) : NULL;
}

/* ---- transaction ---- */

static int
usable(struct pop3c *c, char *err, size_t errlen)
{
	if (c->broken || c->quit || c->conn == NULL) {
		set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_PROTOCOL_ERROR,
		    c->quit ? "session already ended" : "session is out of step after an earlier error");
		fail_to_err(&c->fail, err, errlen);
		return 0;
	}
	return 1;
}

static int
cmd_ok(struct pop3c *c, const char *what, const char *cmd, char *err, size_t errlen)
{
	char line[POP3C_LINE_MAX];

	if (!usable(c, err, errlen))
		return -1;
	if (simple_cmd(c, POP3C_STAGE_COMMAND, what, cmd, line, sizeof line) == -1) {
		fail_to_err(&c->fail, err, errlen);
		return -1;
	}
	return 0;
}

int
pop3c_stat(struct pop3c *c, unsigned *count_r, int64_t *size_r, char *err, size_t errlen)
{
	struct pop3c_status st;
	char line[POP3C_LINE_MAX], safe[120];

	if (!usable(c, err, errlen))
		return -1;
	if (simple_cmd(c, POP3C_STAGE_COMMAND, "STAT", "STAT", line, sizeof line) == -1) {
		fail_to_err(&c->fail, err, errlen);
		return -1;
	}
	pop3c_parse_status(line, &st);
	if (pop3c_parse_list(st.text, count_r, size_r) == -1) {
		set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_PROTOCOL_ERROR, "bad STAT reply \"%s\"",
		    log_sanitize(line, strlen(line), 100, safe, sizeof safe));
		fail_to_err(&c->fail, err, errlen);
		return -1;
	}
	return 0;
}

/* Reads a multi-line listing, calling fn for each line (unstuffed). */
static int
read_listing(struct pop3c *c, const char *what, int (*fn)(void *, const char *), void *arg)
{
	char line[POP3C_LINE_MAX], safe[120];
	ssize_t n;
	size_t count = 0;

	for (;;) {
		n = conn_read_line(c->conn, line, sizeof line, c->timeout);
		if (n < 0) {
			fail_io(&c->fail, c->conn, POP3C_STAGE_COMMAND, (int)n, what);
			c->broken = n != CONN_TOOLONG;
			if (n == CONN_TOOLONG)
				goto drain;
			return -1;
		}
		if (strcmp(line, ".") == 0)
			return 0;
		if (++count > POP3C_MSGS_MAX) {
			set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_PROTOCOL_ERROR,
			    "more than %d lines in the %s listing", POP3C_MSGS_MAX, what);
			goto drain;
		}
		if (fn(arg, line[0] == '.' ? line + 1 : line) == -1) {
			set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_PROTOCOL_ERROR, "bad %s line \"%s\"",
			    what, log_sanitize(line, (size_t)n, 100, safe, sizeof safe));
			goto drain;
		}
	}
drain:
	/* Read to the end so that the session stays usable. */
	for (;;) {
		n = conn_read_line(c->conn, line, sizeof line, c->timeout);
		if (n == CONN_TOOLONG)
			continue;
		if (n < 0) {
			c->broken = 1;
			return -1;
		}
		if (strcmp(line, ".") == 0)
			return -1;
	}
}

struct msg_list {
	struct pop3c_msg *v;
	size_t n, cap;
	int oom;
};

static int
add_uidl(void *arg, const char *line)
{
	struct msg_list *l = arg;
	char uidl[POP3C_UIDL_MAX];
	unsigned num;

	if (pop3c_parse_uidl(line, &num, uidl, sizeof uidl) == -1)
		return -1;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct pop3c_msg *v = reallocarray(l->v, cap, sizeof *v);

		if (v == NULL) {
			l->oom = 1;
			return -1;
		}
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n].uidl = strdup(uidl)) == NULL) {
		l->oom = 1;
		return -1;
	}
	l->v[l->n].num = num;
	l->v[l->n].size = -1;
	l->n++;
	return 0;
}

static int
cmp_num(const void *a, const void *b)
{
	const struct pop3c_msg *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

static int
add_size(void *arg, const char *line)
{
	struct msg_list *l = arg;
	struct pop3c_msg key, *m;
	int64_t size;

	if (pop3c_parse_list(line, &key.num, &size) == -1)
		return -1;
	if ((m = bsearch(&key, l->v, l->n, sizeof *l->v, cmp_num)) != NULL)
		m->size = size;
	return 0;
}

int
pop3c_uidl(struct pop3c *c, struct pop3c_msg **msgs_r, size_t *n_r, char *err, size_t errlen)
{
	struct msg_list l = { 0 };
	char line[POP3C_LINE_MAX];
	size_t i, j;

	*msgs_r = NULL;
	*n_r = 0;
	if (!usable(c, err, errlen))
		return -1;
	if (simple_cmd(c, POP3C_STAGE_COMMAND, "UIDL", "UIDL", line, sizeof line) == -1 ||
	    read_listing(c, "UIDL", add_uidl, &l) == -1)
		goto fail;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof *l.v, cmp_num);
	for (i = 1; i < l.n; i++) {
		if (l.v[i].num == l.v[i - 1].num) {
			set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_PROTOCOL_ERROR,
			    "message %u listed twice by UIDL", l.v[i].num);
			goto fail;
		}
	}
	if (simple_cmd(c, POP3C_STAGE_COMMAND, "LIST", "LIST", line, sizeof line) == -1 ||
	    read_listing(c, "LIST", add_size, &l) == -1)
		goto fail;
	/* A message deleted between the two listings has no size: drop it. */
	for (i = j = 0; i < l.n; i++) {
		if (l.v[i].size >= 0)
			l.v[j++] = l.v[i];
		else
			free(l.v[i].uidl);
	}
	*msgs_r = l.v;
	*n_r = j;
	return 0;
fail:
	if (l.oom)
		set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_LOCAL_ERROR, "out of memory for the listing");
	fail_to_err(&c->fail, err, errlen);
	pop3c_msgs_free(&l.v, l.n);
	return -1;
}

void
pop3c_msgs_free(struct pop3c_msg **msgsp, size_t n)
{
	struct pop3c_msg *v = *msgsp;

	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].uidl);
	free(v);
	*msgsp = NULL;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Streams a multi-line body to fd (after its +OK), in 64 KiB writes. */
static int
read_body(struct pop3c *c, const char *what, int fd, int64_t max, int64_t *size_r)
{
	static const char crlf[] = "\r\n";
	struct pop3c_dot d;
	char part[POP3C_PART], *out;
	size_t olen, fill = 0;
	int64_t total = 0;
	int eol, too_big = 0, write_errno = 0;
	ssize_t n;

	if ((out = malloc(POP3C_OUT)) == NULL) {
		set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_LOCAL_ERROR, "out of memory");
		c->broken = 1;
		return -1;
	}
	pop3c_dot_init(&d);
	while (!d.done) {
		n = conn_read_line_part(c->conn, part, sizeof part, &eol, c->timeout);
		if (n < 0) {
			fail_io(&c->fail, c->conn, POP3C_STAGE_COMMAND, (int)n, what);
			c->broken = 1;
			free(out);
			return -1;
		}
		for (int pass = 0; pass < 1 + eol; pass++) {
			const char *in = pass == 0 ? part : crlf;
			size_t inlen = pass == 0 ? (size_t)n : 2;

			/* Room for the worst case (2 bytes out per byte in). */
			if (fill + 2 * inlen > POP3C_OUT) {
				if (!write_errno && write_all(fd, out, fill) == -1)
					write_errno = errno ? errno : EIO;
				fill = 0;
			}
			pop3c_dot_decode(&d, in, inlen, out + fill, &olen);
			if (too_big || write_errno)
				continue;
			if (total + (int64_t)olen > max) {
				too_big = 1;
				continue;
			}
			fill += olen;
			total += (int64_t)olen;
		}
	}
	if (!write_errno && !too_big && fill > 0 && write_all(fd, out, fill) == -1)
		write_errno = errno ? errno : EIO;
	free(out);
	*size_r = total;
	if (too_big) {
		set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_TOO_BIG, "%s: message larger than %lld bytes",
		    what, (long long)max);
		return -1;
	}
	if (write_errno) {
		set_fail(&c->fail, POP3C_STAGE_COMMAND, POP3C_LOCAL_ERROR, "%s: writing the spool: %s",
		    what, strerror(write_errno));
		return -1;
	}
	return 0;
}

static int
fetch(struct pop3c *c, const char *cmd, const char *what, int fd, int64_t max, int64_t *size_r,
    char *err, size_t errlen)
{
	char line[POP3C_LINE_MAX];

	*size_r = 0;
	if (!usable(c, err, errlen))
		return -1;
	if (simple_cmd(c, POP3C_STAGE_COMMAND, what, cmd, line, sizeof line) == -1 ||
	    read_body(c, what, fd, max, size_r) == -1) {
		fail_to_err(&c->fail, err, errlen);
		return -1;
	}
	return 0;
}

int
pop3c_retr(struct pop3c *c, unsigned num, int fd, int64_t max, int64_t *size_r, char *err, size_t errlen)
{
	char cmd[32], what[32];

	snprintf(cmd, sizeof cmd, "RETR %u", num);
	snprintf(what, sizeof what, "RETR %u", num);
	return fetch(c, cmd, what, fd, max, size_r, err, errlen);
}

int
pop3c_top(struct pop3c *c, unsigned num, unsigned lines, int fd, int64_t max, int64_t *size_r,
    char *err, size_t errlen)
{
	char cmd[48];

	snprintf(cmd, sizeof cmd, "TOP %u %u", num, lines);
	return fetch(c, cmd, cmd, fd, max, size_r, err, errlen);
}

int
pop3c_dele(struct pop3c *c, unsigned num, char *err, size_t errlen)
{
	char cmd[32];

	snprintf(cmd, sizeof cmd, "DELE %u", num);
	return cmd_ok(c, cmd, cmd, err, errlen);
}

int
pop3c_rset(struct pop3c *c, char *err, size_t errlen)
{
	return cmd_ok(c, "RSET", "RSET", err, errlen);
}

int
pop3c_noop(struct pop3c *c, char *err, size_t errlen)
{
	return cmd_ok(c, "NOOP", "NOOP", err, errlen);
}

int
pop3c_quit(struct pop3c *c, char *err, size_t errlen)
{
	int r = cmd_ok(c, "QUIT", "QUIT", err, errlen);

	c->quit = 1;
	return r;
}

void
pop3c_free(struct pop3c **cp)
{
	struct pop3c *c = *cp;

	if (c == NULL)
		return;
	/* No QUIT here: without it the server forgets this session's DELEs. */
	conn_free(&c->conn);
	SSL_CTX_free(c->ctx);
	capa_clear(c);
	free(c);
	*cp = NULL;
}
