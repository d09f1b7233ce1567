#include "pop3-server.h"
#include "config.h"
#include "conn.h"
#include "crypto.h"
#include "log.h"
#include "net.h"
#include "pop3-dot.h"
#include "store.h"
#include "sync.h"
#include "view.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#define LINE_MAX_LEN 512          /* RFC 2449 allows 255 octets per command */
#define BAD_COMMANDS_MAX 10
#define AUTH_FAILURES_MAX 3
#define TLS_HANDSHAKE_MS 30000
#define SLICE_MS 1000             /* reads wake up this often to notice a shutdown */
#define CHUNK 32768
#define MAX_ACCOUNTS 64

struct pop3_server {
	const struct config *cf;
	struct sync *sync;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	SSL_CTX *tls;
	int fds[2 * CONFIG_MAX_LISTEN];
	int implicit[2 * CONFIG_MAX_LISTEN];
	size_t nfds;
	pthread_t acceptor;
	int acceptor_started;
	atomic_int stopping;
	int sessions;
	unsigned long next_id;
	/* Accounts held by a session in TRANSACTION state ([IN-USE]). */
	int64_t locked[1024];
	size_t nlocked;
};

enum session_state { ST_AUTH = 1, ST_TRANS = 2 };

struct session {
	struct pop3_server *srv;
	struct conn *conn;
	char id[24];
	char peer[INET6_ADDRSTRLEN + 8];
	int loopback;
	int implicit_tls;
	enum session_state state;
	char *user_arg;           /* from USER, until PASS */
	struct store *st;
	struct view view;
	int64_t accounts[MAX_ACCOUNTS];
	size_t naccounts;
	int bad_commands;
	int auth_failures;
	int timeout_ms;
};

struct pop3_cmd {
	const char *name;
	int min_args;
	int max_args;             /* -1: the rest of the line is one argument */
	unsigned states;
	int (*fn)(struct session *s, int argc, char **argv);
};

/* ---- small helpers ---- */

static int
reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
reply(struct session *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	memcpy(buf + n, "\r\n", 2);
	return conn_write(s->conn, buf, (size_t)n + 2, s->timeout_ms) == 0 ? 0 : -1;
}

static SSL_CTX *
server_tls(struct pop3_server *srv)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&srv->lock);
	ctx = srv->tls;
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&srv->lock);
	return ctx;
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 1;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return in6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

static int
lock_accounts(struct pop3_server *srv, const int64_t *ids, size_t n)
{
	int ok = 1;

	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i < n && ok; i++) {
		for (size_t j = 0; j < srv->nlocked; j++) {
			if (srv->locked[j] == ids[i])
				ok = 0;
		}
	}
	if (ok && srv->nlocked + n > sizeof(srv->locked) / sizeof(srv->locked[0]))
		ok = 0;
	if (ok) {
		for (size_t i = 0; i < n; i++)
			srv->locked[srv->nlocked++] = ids[i];
	}
	pthread_mutex_unlock(&srv->lock);
	return ok ? 0 : -1;
}

static void
unlock_accounts(struct pop3_server *srv, const int64_t *ids, size_t n)
{
	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < srv->nlocked; j++) {
			if (srv->locked[j] == ids[i]) {
				srv->locked[j] = srv->locked[--srv->nlocked];
				break;
			}
		}
	}
	pthread_mutex_unlock(&srv->lock);
}

static int
parse_msgnum(const char *arg, unsigned long *n_r)
{
	char *end;

	if (!isdigit((unsigned char)arg[0]))
		return -1;
	errno = 0;
	*n_r = strtoul(arg, &end, 10);
	return (*end != '\0' || errno != 0) ? -1 : 0;
}

static struct view_msg *
get_msg(struct session *s, const char *arg)
{
	unsigned long n;
	struct view_msg *m;

	if (parse_msgnum(arg, &n) == -1) {
		reply(s, "-ERR invalid message number");
		return NULL;
	}
	if ((m = view_get(&s->view, n)) == NULL) {
		if (n >= 1 && n <= s->view.count)
			reply(s, "-ERR message %lu already deleted", n);
		else
			reply(s, "-ERR no such message");
	}
	return m;
}

/* ---- login ---- */

struct collect_ctx {
	struct session *s;
	struct view_account *va;
	size_t n;
};

static int
collect_account(const struct store_account *a, void *ctx)
{
	struct collect_ctx *cc = ctx;

	if (cc->n >= MAX_ACCOUNTS)
		return 0;
	cc->va[cc->n].id = a->id;
	cc->va[cc->n].name = strdup(a->name);
	cc->s->accounts[cc->n] = a->id;
	cc->n++;
	return 0;
}

/* A hash of a password nobody has, so unknown users cost the same time. */
static const char dummy_hash[] =
    "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

static int
login(struct session *s, const char *userarg, const char *password)
{
	struct view_account va[MAX_ACCOUNTS];
	struct collect_ctx cc = { s, va, 0 };
	struct store_user u;
	struct store_account a;
	char user[128], *slash, safe[160];
	const char *account = NULL, *error;
	size_t synced;
	int found, ok, rc = 0;

	log_sanitize(userarg, strlen(userarg), 80, safe, sizeof(safe));
	if (strlen(userarg) >= sizeof(user)) {
		found = 0;
		user[0] = '\0';
	} else {
		snprintf(user, sizeof(user), "%s", userarg);
		if ((slash = strchr(user, '/')) != NULL) {
			*slash = '\0';
			account = slash + 1;
		}
		found = store_user_get(s->st, user, &u, &error);
		if (found == -1) {
			log_warnx(s->id, "store: %s", error);
			return reply(s, "-ERR [SYS/TEMP] temporary failure, try again later");
		}
	}
	ok = crypto_password_verify(password, found == 1 ? u.pwhash : dummy_hash) == 1 && found == 1;
	if (found == 1)
		store_user_clear(&u);
	if (ok && account != NULL) {
		found = store_account_get(s->st, user, account, &a, &error);
		if (found == 1) {
			va[0].id = a.id;
			va[0].name = strdup(a.name);
			s->accounts[0] = a.id;
			cc.n = 1;
			store_account_clear(&a);
		} else
			ok = 0;
	} else if (ok) {
		if (store_account_foreach(s->st, user, collect_account, &cc, &error) == -1) {
			log_warnx(s->id, "store: %s", error);
			rc = reply(s, "-ERR [SYS/TEMP] temporary failure, try again later");
			goto out;
		}
	}
	if (!ok) {
		log_info(s->id, "login failed for %s from %s", safe, s->peer);
		s->auth_failures++;
		sleep(1);	/* slows down password guessing */
		rc = reply(s, "-ERR [AUTH] invalid user name or password");
		if (s->auth_failures >= AUTH_FAILURES_MAX) {
			reply(s, "-ERR too many failed logins, closing");
			rc = -1;
		}
		goto out;
	}
	s->naccounts = cc.n;
	if (lock_accounts(s->srv, s->accounts, s->naccounts) == -1) {
		log_info(s->id, "%s: mailbox in use", safe);
		s->naccounts = 0;
		rc = reply(s, "-ERR [IN-USE] mailbox is in use by another session");
		goto out;
	}
	/* Fresh mail first, but never make the client wait past login_wait. */
	synced = sync_wait(s->srv->sync, s->accounts, s->naccounts, s->srv->cf->login_wait * 1000);
	if (synced < s->naccounts)
		log_info(s->id, "%zu of %zu accounts synced within login_wait", synced, s->naccounts);
	if (view_build(s->st, va, cc.n, account == NULL, &s->view, &error) == -1) {
		log_warnx(s->id, "store: %s", error);
		unlock_accounts(s->srv, s->accounts, s->naccounts);
		s->naccounts = 0;
		rc = reply(s, "-ERR [SYS/TEMP] cannot open the mailbox, try again later");
		goto out;
	} else {
		size_t count;
		int64_t size;

		view_stat(&s->view, &count, &size);
		s->state = ST_TRANS;
		log_info(s->id, "%s logged in from %s: %zu messages", safe, s->peer, count);
		rc = reply(s, "+OK maildrop has %zu messages (%lld octets)", count, (long long)size);
	}
out:
	for (size_t i = 0; i < cc.n; i++)
		free((char *)va[i].name);
	return rc;
}

static int
plaintext_refused(struct session *s)
{
	return conn_ssl(s->conn) == NULL && !(s->loopback && s->srv->cf->plaintext_loopback);
}

/* ---- commands ---- */

static int
cmd_capa(struct session *s, int argc, char **argv)
{
	reply(s, "+OK capability list follows");
	reply(s, "TOP");
	reply(s, "UIDL");
	reply(s, "RESP-CODES");
	reply(s, "AUTH-RESP-CODE");
	reply(s, "PIPELINING");
	if (s->state == ST_AUTH && !plaintext_refused(s)) {
		reply(s, "USER");
		reply(s, "SASL PLAIN LOGIN");
	}
	if (s->state == ST_AUTH && conn_ssl(s->conn) == NULL)
		reply(s, "STLS");
	reply(s, "IMPLEMENTATION popgate");
	return reply(s, ".");
}

static int
cmd_user(struct session *s, int argc, char **argv)
{
	if (plaintext_refused(s))
		return reply(s, "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
	free(s->user_arg);
	if ((s->user_arg = strdup(argv[1])) == NULL)
		return -1;
	return reply(s, "+OK send your password");
}

static int
cmd_pass(struct session *s, int argc, char **argv)
{
	char *user;
	int rc;

	if (plaintext_refused(s))
		return reply(s, "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
	if (s->user_arg == NULL)
		return reply(s, "-ERR USER first");
	user = s->user_arg;
	s->user_arg = NULL;
	rc = login(s, user, argv[1]);
	free(user);
	return rc;
}

/*
 * Gets one SASL response: the initial response when given, else a "+ "
 * challenge and the client's next line. Decodes its base64 into dec
 * (NUL-terminated). Returns the decoded length, -2 when a reply was already
 * sent (cancelled, malformed), or -1 to close.
 */
static int
sasl_response(struct session *s, const char *initial, const char *challenge, unsigned char *dec,
    size_t size)
{
	char line[LINE_MAX_LEN + 1];
	const char *resp = initial;
	size_t rlen;
	ssize_t n;
	int len;

	if (resp == NULL) {
		if (reply(s, "+ %s", challenge) == -1 || conn_flush(s->conn, s->timeout_ms) != 0)
			return -1;
		n = conn_read_line(s->conn, line, sizeof(line), s->timeout_ms);
		if (n == CONN_TOOLONG)
			return reply(s, "-ERR authentication line too long") == -1 ? -1 : -2;
		if (n < 0)
			return -1;
		resp = line;
	}
	if (strcmp(resp, "*") == 0)
		return reply(s, "-ERR authentication cancelled") == -1 ? -1 : -2;
	if (strcmp(resp, "=") == 0)
		resp = "";
	rlen = strlen(resp);
	if (rlen % 4 != 0 || rlen / 4 * 3 >= size ||
	    (len = EVP_DecodeBlock(dec, (const unsigned char *)resp, (int)rlen)) < 0)
		return reply(s, "-ERR invalid base64 in the authentication response") == -1 ? -1 : -2;
	if (rlen > 0 && resp[rlen - 1] == '=')
		len--;
	if (rlen > 1 && resp[rlen - 2] == '=')
		len--;
	dec[len] = '\0';
	return len;
}

/* RFC 4616: authzid NUL authcid NUL passwd. */
static int
auth_plain(struct session *s, const char *initial)
{
	unsigned char dec[1024];
	char *authzid, *authcid, *passwd, *end;
	int len, rc;

	if ((len = sasl_response(s, initial, "", dec, sizeof(dec))) < 0)
		return len == -1 ? -1 : 0;
	authzid = (char *)dec;
	end = (char *)dec + len;
	if ((authcid = memchr(authzid, '\0', (size_t)(end - authzid))) == NULL)
		return reply(s, "-ERR malformed AUTH PLAIN response");
	authcid++;
	if (authcid >= end || (passwd = memchr(authcid, '\0', (size_t)(end - authcid))) == NULL)
		return reply(s, "-ERR malformed AUTH PLAIN response");
	passwd++;
	if (*authzid != '\0' && strcmp(authzid, authcid) != 0) {
		crypto_wipe(dec, sizeof(dec));
		return reply(s, "-ERR [AUTH] authorization identity must equal the user");
	}
	rc = login(s, authcid, passwd);
	crypto_wipe(dec, sizeof(dec));
	return rc;
}

/* The widespread (Outlook, Thunderbird) LOGIN mechanism: user, then password. */
static int
auth_login(struct session *s, const char *initial)
{
	unsigned char user[512], pass[512];
	int len, rc;

	/* "VXNlcm5hbWU6" and "UGFzc3dvcmQ6" are "Username:" and "Password:". */
	if ((len = sasl_response(s, initial, "VXNlcm5hbWU6", user, sizeof(user))) < 0)
		return len == -1 ? -1 : 0;
	if ((len = sasl_response(s, NULL, "UGFzc3dvcmQ6", pass, sizeof(pass))) < 0)
		return len == -1 ? -1 : 0;
	if (memchr(user, '\0', strlen((char *)user) + 1) != user + strlen((char *)user)) {
		crypto_wipe(pass, sizeof(pass));
		return reply(s, "-ERR malformed AUTH LOGIN response");
	}
	rc = login(s, (char *)user, (char *)pass);
	crypto_wipe(pass, sizeof(pass));
	return rc;
}

static int
cmd_auth(struct session *s, int argc, char **argv)
{
	if (argc == 1) {
		/* RFC 5034: a bare AUTH lists the mechanisms. */
		reply(s, "+OK");
		if (!plaintext_refused(s)) {
			reply(s, "PLAIN");
			reply(s, "LOGIN");
		}
		return reply(s, ".");
	}
	if (strcasecmp(argv[1], "PLAIN") != 0 && strcasecmp(argv[1], "LOGIN") != 0)
		return reply(s, "-ERR unsupported authentication mechanism");
	if (plaintext_refused(s))
		return reply(s, "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
	if (strcasecmp(argv[1], "PLAIN") == 0)
		return auth_plain(s, argc == 3 ? argv[2] : NULL);
	return auth_login(s, argc == 3 ? argv[2] : NULL);
}

static int
cmd_stls(struct session *s, int argc, char **argv)
{
	SSL_CTX *ctx;
	int rc;

	if (conn_ssl(s->conn) != NULL)
		return reply(s, "-ERR TLS is already active");
	if ((ctx = server_tls(s->srv)) == NULL)
		return reply(s, "-ERR TLS is not available");
	if (reply(s, "+OK begin TLS negotiation") == -1 || conn_flush(s->conn, s->timeout_ms) != 0) {
		SSL_CTX_free(ctx);
		return -1;
	}
	/* RFC 2595: nothing sent before the handshake may be acted on. */
	conn_discard_input(s->conn);
	rc = conn_tls_accept(s->conn, ctx, TLS_HANDSHAKE_MS);
	SSL_CTX_free(ctx);
	if (rc != 0) {
		log_info(s->id, "STLS handshake failed: %s", conn_error(s->conn));
		return -1;
	}
	free(s->user_arg);
	s->user_arg = NULL;
	return 0;
}

static int
cmd_stat(struct session *s, int argc, char **argv)
{
	size_t count;
	int64_t size;

	view_stat(&s->view, &count, &size);
	return reply(s, "+OK %zu %lld", count, (long long)size);
}

static int
cmd_list_uidl(struct session *s, int argc, char **argv, int uidl)
{
	struct view_msg *m;
	size_t count;
	int64_t size;

	if (argc == 2) {
		if ((m = get_msg(s, argv[1])) == NULL)
			return 0;
		if (uidl)
			return reply(s, "+OK %lu %s", (unsigned long)(m - s->view.msgs) + 1, m->uidl);
		return reply(s, "+OK %lu %lld", (unsigned long)(m - s->view.msgs) + 1, (long long)m->size);
	}
	view_stat(&s->view, &count, &size);
	if (uidl)
		reply(s, "+OK unique-id listing follows");
	else
		reply(s, "+OK %zu messages (%lld octets)", count, (long long)size);
	for (size_t i = 0; i < s->view.count; i++) {
		m = &s->view.msgs[i];
		if (m->deleted)
			continue;
		if (uidl ? reply(s, "%zu %s", i + 1, m->uidl) : reply(s, "%zu %lld", i + 1, (long long)m->size))
			return -1;
	}
	return reply(s, ".");
}

static int
cmd_list(struct session *s, int argc, char **argv)
{
	return cmd_list_uidl(s, argc, argv, 0);
}

static int
cmd_uidl(struct session *s, int argc, char **argv)
{
	return cmd_list_uidl(s, argc, argv, 1);
}

/*
 * Streams a message: popgate's header lines, then the stored bytes, dot-stuffed,
 * a chunk at a time. With top >= 0 it stops after the header block and top
 * body lines (TOP).
 */
static int
send_message(struct session *s, struct view_msg *m, long top)
{
	struct store_body *body;
	struct pop3_dot dot;
	char *in = NULL, *out = NULL, fin[8];
	const char *error;
	ssize_t n;
	size_t linelen = 0, olen;
	int in_body = 0, done = 0, rc = -1;
	long lines = 0;

	if (store_body_open(s->st, m->id, &body, &error) == -1) {
		log_warnx(s->id, "message %lld: body unavailable: %s", (long long)m->id, error);
		return reply(s, "-ERR [SYS/TEMP] message body is not available right now");
	}
	if ((in = malloc(CHUNK)) == NULL || (out = malloc(2 * CHUNK)) == NULL)
		goto out;
	pop3_dot_init(&dot);
	if (top >= 0)
		reply(s, "+OK top of message follows");
	else
		reply(s, "+OK %lld octets", (long long)m->size);
	olen = pop3_dot_encode(&dot, m->added_headers, strlen(m->added_headers), out);
	if (conn_write(s->conn, out, olen, s->timeout_ms) != 0)
		goto out;
	while (!done && (n = store_body_read(body, in, CHUNK)) > 0) {
		size_t len = (size_t)n;
		if (top >= 0) {
			/* Find where the header block plus top lines end in this chunk. */
			for (size_t i = 0; i < len; i++) {
				if (in[i] != '\n') {
					if (in[i] != '\r')
						linelen++;
					continue;
				}
				if (!in_body && linelen == 0) {
					in_body = 1;
					if (top == 0) {
						len = i + 1;
						done = 1;
						break;
					}
				} else if (in_body && ++lines >= top) {
					len = i + 1;
					done = 1;
					break;
				}
				linelen = 0;
			}
		}
		olen = pop3_dot_encode(&dot, in, len, out);
		if (conn_write(s->conn, out, olen, s->timeout_ms) != 0)
			goto out;
	}
	olen = pop3_dot_finish(&dot, fin);
	if (conn_write(s->conn, fin, olen, s->timeout_ms) != 0)
		goto out;
	rc = 0;
out:
	free(in);
	free(out);
	store_body_close(&body);
	return rc;
}

static int
cmd_retr(struct session *s, int argc, char **argv)
{
	struct view_msg *m = get_msg(s, argv[1]);

	return m == NULL ? 0 : send_message(s, m, -1);
}

static int
cmd_top(struct session *s, int argc, char **argv)
{
	struct view_msg *m;
	unsigned long lines;

	if (parse_msgnum(argv[2], &lines) == -1 || lines > 100000000)
		return reply(s, "-ERR invalid number of lines");
	if ((m = get_msg(s, argv[1])) == NULL)
		return 0;
	return send_message(s, m, (long)lines);
}

static int
cmd_dele(struct session *s, int argc, char **argv)
{
	struct view_msg *m = get_msg(s, argv[1]);

	if (m == NULL)
		return 0;
	m->deleted = 1;
	return reply(s, "+OK message %lu deleted", (unsigned long)(m - s->view.msgs) + 1);
}

static int
cmd_rset(struct session *s, int argc, char **argv)
{
	size_t count;
	int64_t size;

	view_reset(&s->view);
	view_stat(&s->view, &count, &size);
	return reply(s, "+OK maildrop has %zu messages (%lld octets)", count, (long long)size);
}

static int
cmd_noop(struct session *s, int argc, char **argv)
{
	return reply(s, "+OK");
}

static int
cmd_quit(struct session *s, int argc, char **argv)
{
	const char *error;
	int n;

	if (s->state != ST_TRANS) {
		reply(s, "+OK popgate signing off");
		return -1;
	}
	/* UPDATE state: record the deletions, then let sync remove them upstream. */
	if ((n = view_commit(s->st, &s->view, &error)) == -1) {
		log_warnx(s->id, "cannot record deletions: %s", error);
		reply(s, "-ERR [SYS/TEMP] could not delete messages; nothing was deleted");
		return -1;
	}
	unlock_accounts(s->srv, s->accounts, s->naccounts);
	if (n > 0) {
		log_info(s->id, "%d messages deleted by the client", n);
		sync_wait(s->srv->sync, s->accounts, s->naccounts, s->srv->cf->login_wait * 1000);
	}
	s->naccounts = 0;
	reply(s, "+OK popgate signing off (%d messages deleted)", n);
	return -1;
}

static const struct pop3_cmd commands[] = {
	{ "CAPA", 0, 0, ST_AUTH | ST_TRANS, cmd_capa },
	{ "USER", 1, 1, ST_AUTH, cmd_user },
	{ "PASS", 1, -1, ST_AUTH, cmd_pass },
	{ "AUTH", 0, 2, ST_AUTH, cmd_auth },
	{ "STLS", 0, 0, ST_AUTH, cmd_stls },
	{ "STAT", 0, 0, ST_TRANS, cmd_stat },
	{ "LIST", 0, 1, ST_TRANS, cmd_list },
	{ "UIDL", 0, 1, ST_TRANS, cmd_uidl },
	{ "RETR", 1, 1, ST_TRANS, cmd_retr },
	{ "TOP", 2, 2, ST_TRANS, cmd_top },
	{ "DELE", 1, 1, ST_TRANS, cmd_dele },
	{ "RSET", 0, 0, ST_TRANS, cmd_rset },
	{ "NOOP", 0, 0, ST_AUTH | ST_TRANS, cmd_noop },
	{ "QUIT", 0, 0, ST_AUTH | ST_TRANS, cmd_quit },
	{ NULL, 0, 0, 0, NULL }
};

/* Returns 0 to go on, -1 to close. */
static int
dispatch(struct session *s, char *line)
{
	const struct pop3_cmd *c;
	char *argv[8], safe[64];
	int argc = pop3_split_args(line, argv, 8);

	if (argc == 0) {
		s->bad_commands++;
		return reply(s, "-ERR empty command");
	}
	if (argc < 0) {
		s->bad_commands++;
		return reply(s, "-ERR too many arguments");
	}
	for (c = commands; c->name != NULL; c++) {
		if (strcasecmp(argv[0], c->name) == 0)
			break;
	}
	if (c->name == NULL) {
		s->bad_commands++;
		log_debug(s->id, "unknown command %s",
		    log_sanitize(argv[0], strlen(argv[0]), 20, safe, sizeof(safe)));
		return reply(s, "-ERR unknown command");
	}
	if ((c->states & s->state) == 0) {
		s->bad_commands++;
		return reply(s, s->state == ST_AUTH ? "-ERR log in first" : "-ERR command not valid after login");
	}
	if (argc - 1 < c->min_args || (c->max_args >= 0 && argc - 1 > c->max_args)) {
		s->bad_commands++;
		return reply(s, "-ERR wrong number of arguments for %s", c->name);
	}
	if (c->max_args == -1 && argc - 1 > 1) {
		s->bad_commands++;
		return reply(s, "-ERR wrong number of arguments for %s", c->name);
	}
	return c->fn(s, argc, argv);
}

static void
session_loop(struct session *s)
{
	char line[LINE_MAX_LEN + 1];
	int idle_ms = 0, limit_ms = s->srv->cf->idle_timeout * 1000;
	ssize_t n;

	if (reply(s, "+OK popgate ready") == -1 || conn_flush(s->conn, s->timeout_ms) != 0)
		return;
	for (;;) {
		if (atomic_load(&s->srv->stopping)) {
			reply(s, "-ERR [SYS/TEMP] popgate is shutting down");
			conn_flush(s->conn, 2000);
			return;
		}
		n = conn_read_line(s->conn, line, sizeof(line), SLICE_MS);
		if (n == CONN_TIMEOUT) {
			idle_ms += SLICE_MS;
			if (idle_ms >= limit_ms) {
				log_info(s->id, "idle for %d s, closing", limit_ms / 1000);
				reply(s, "-ERR idle for too long, closing");
				conn_flush(s->conn, 2000);
				return;
			}
			continue;
		}
		idle_ms = 0;
		if (n == CONN_TOOLONG) {
			s->bad_commands++;
			reply(s, "-ERR line too long");
		} else if (n < 0) {
			if (n == CONN_ERROR)
				log_info(s->id, "connection error: %s", conn_error(s->conn));
			return;
		} else if (dispatch(s, line) == -1) {
			conn_flush(s->conn, s->timeout_ms);
			return;
		}
		if (s->bad_commands >= BAD_COMMANDS_MAX) {
			reply(s, "-ERR too many bad commands, closing");
			conn_flush(s->conn, 2000);
			log_info(s->id, "too many bad commands from %s", s->peer);
			return;
		}
		/* PIPELINING: answer everything already received in one write. */
		if (!conn_has_input(s->conn) && conn_flush(s->conn, s->timeout_ms) != 0)
			return;
	}
}

struct session_start {
	struct pop3_server *srv;
	int fd;
	int implicit_tls;
	struct sockaddr_storage addr;
};

static void
session_end(struct pop3_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->sessions--;
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
}

static void *
session_thread(void *arg)
{
	struct session_start *ss = arg;
	struct session s;
	char host[INET6_ADDRSTRLEN], *db;
	const char *error;
	SSL_CTX *ctx;

	memset(&s, 0, sizeof(s));
	s.srv = ss->srv;
	s.state = ST_AUTH;
	s.timeout_ms = s.srv->cf->idle_timeout * 1000;
	s.implicit_tls = ss->implicit_tls;
	s.loopback = is_loopback(&ss->addr);
	pthread_mutex_lock(&s.srv->lock);
	snprintf(s.id, sizeof(s.id), "pop3:%lu", ++s.srv->next_id);
	pthread_mutex_unlock(&s.srv->lock);
	if (ss->addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss->addr)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss->addr)->sin_addr, host, sizeof(host));
	snprintf(s.peer, sizeof(s.peer), "%s", host);
	if ((s.conn = conn_new(ss->fd)) == NULL) {
		close(ss->fd);
		goto out;
	}
	log_debug(s.id, "connection from %s%s", s.peer, s.implicit_tls ? " (TLS)" : "");
	if (s.implicit_tls) {
		if ((ctx = server_tls(s.srv)) == NULL)
			goto out;
		if (conn_tls_accept(s.conn, ctx, TLS_HANDSHAKE_MS) != 0) {
			log_info(s.id, "TLS handshake with %s failed: %s", s.peer, conn_error(s.conn));
			SSL_CTX_free(ctx);
			goto out;
		}
		SSL_CTX_free(ctx);
	}
	if ((db = config_state_path(s.srv->cf, "popgate.db")) == NULL)
		goto out;
	if (store_open(db, &s.st, &error) == -1) {
		log_error(s.id, "cannot open the store: %s", error);
		reply(&s, "-ERR [SYS/TEMP] popgate cannot open its store, try again later");
		conn_flush(s.conn, 2000);
		free(db);
		goto out;
	}
	free(db);
	session_loop(&s);
	log_debug(s.id, "session ended");
out:
	if (s.naccounts > 0)
		unlock_accounts(s.srv, s.accounts, s.naccounts);
	view_free(&s.view);
	free(s.user_arg);
	store_close(&s.st);
	conn_free(&s.conn);
	session_end(ss->srv);
	free(ss);
	return NULL;
}

static void
accept_one(struct pop3_server *srv, int lfd, int implicit_tls)
{
	static const char busy[] = "-ERR [SYS/TEMP] too many sessions, try again later\r\n";
	struct session_start *ss;
	socklen_t len;
	pthread_attr_t attr;
	pthread_t tid;
	int fd, full, one = 1;

	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		return;
	len = sizeof(ss->addr);
	if ((fd = accept4(lfd, (struct sockaddr *)&ss->addr, &len, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("pop3", "accept");
		free(ss);
		return;
	}
	/* Replies are flushed whole; Nagle would hold each one for a delayed ACK. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_debug("pop3", "TCP_NODELAY: %s", strerror(errno));
	pthread_mutex_lock(&srv->lock);
	full = srv->sessions >= srv->cf->max_sessions;
	if (!full)
		srv->sessions++;
	pthread_mutex_unlock(&srv->lock);
	if (full) {
		log_warnx("pop3", "max_sessions (%d) reached, refusing a connection", srv->cf->max_sessions);
		if (!implicit_tls && write(fd, busy, sizeof(busy) - 1) < 0)
			log_debug("pop3", "refusal not sent");
		close(fd);
		free(ss);
		return;
	}
	ss->srv = srv;
	ss->fd = fd;
	ss->implicit_tls = implicit_tls;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, session_thread, ss) != 0) {
		log_warnx("pop3", "cannot start a session thread");
		close(fd);
		free(ss);
		session_end(srv);
	}
	pthread_attr_destroy(&attr);
}

static void *
acceptor_thread(void *arg)
{
	struct pop3_server *srv = arg;
	struct pollfd pfd[2 * CONFIG_MAX_LISTEN];

	for (size_t i = 0; i < srv->nfds; i++) {
		pfd[i].fd = srv->fds[i];
		pfd[i].events = POLLIN;
	}
	while (!atomic_load(&srv->stopping)) {
		int n = poll(pfd, srv->nfds, 500);
		if (n <= 0)
			continue;
		for (size_t i = 0; i < srv->nfds; i++) {
			if (pfd[i].revents & POLLIN)
				accept_one(srv, srv->fds[i], srv->implicit[i]);
		}
	}
	return NULL;
}

int
pop3_server_start(const struct config *cf, struct sync *sync, SSL_CTX *tls_ctx, struct pop3_server **srv_r,
    char *err, size_t errlen)
{
	struct pop3_server *srv;
	size_t i;

	*srv_r = NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->cf = cf;
	srv->sync = sync;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->idle, NULL);
	if (tls_ctx != NULL) {
		SSL_CTX_up_ref(tls_ctx);
		srv->tls = tls_ctx;
	}
	for (i = 0; i < cf->pop3_listen_count + cf->pop3_listen_tls_count; i++) {
		int tls = i >= cf->pop3_listen_count;
		const char *addr = tls ? cf->pop3_listen_tls[i - cf->pop3_listen_count] : cf->pop3_listen[i];
		char lerr[256];

		if (net_listen(addr, &srv->fds[srv->nfds], lerr, sizeof(lerr)) == -1) {
			snprintf(err, errlen, "cannot listen on %s: %s", addr, lerr);
			srv->stopping = 1;
			pop3_server_stop(&srv);
			return -1;
		}
		srv->implicit[srv->nfds++] = tls;
	}
	if (pthread_create(&srv->acceptor, NULL, acceptor_thread, srv) != 0) {
		snprintf(err, errlen, "cannot start the acceptor thread");
		srv->stopping = 1;
		pop3_server_stop(&srv);
		return -1;
	}
	srv->acceptor_started = 1;
	*srv_r = srv;
	return 0;
}

void
pop3_server_set_tls(struct pop3_server *srv, SSL_CTX *tls_ctx)
{
	SSL_CTX *old;

	SSL_CTX_up_ref(tls_ctx);
	pthread_mutex_lock(&srv->lock);
	old = srv->tls;
	srv->tls = tls_ctx;
	pthread_mutex_unlock(&srv->lock);
	SSL_CTX_free(old);
}

void
pop3_server_stop(struct pop3_server **srvp)
{
	struct pop3_server *srv = *srvp;
	struct timespec ts;

	if (srv == NULL)
		return;
	atomic_store(&srv->stopping, 1);
	if (srv->acceptor_started)
		pthread_join(srv->acceptor, NULL);
	for (size_t i = 0; i < srv->nfds; i++)
		close(srv->fds[i]);
	/* Sessions notice within SLICE_MS; give them a little longer to say goodbye. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&srv->lock);
	while (srv->sessions > 0) {
		if (pthread_cond_timedwait(&srv->idle, &srv->lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&srv->lock);
	if (srv->sessions > 0) {
		/* Detached threads still use srv: leave it allocated at exit. */
		*srvp = NULL;
		return;
	}
	SSL_CTX_free(srv->tls);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->idle);
	free(srv);
	*srvp = NULL;
}
