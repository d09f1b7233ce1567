#include "pop3-server-int.h"
#include "crypto.h"
#include "log.h"
#include "pop3-dot.h"
#include "store.h"
#include "sync.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

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
		pop3_reply(s, "-ERR invalid message number");
		return NULL;
	}
	if ((m = view_get(&s->view, n)) == NULL) {
		if (n >= 1 && n <= s->view.count)
			pop3_reply(s, "-ERR message %lu already deleted", n);
		else
			pop3_reply(s, "-ERR no such message");
	}
	return m;
}

int
pop3_plaintext_refused(struct session *s)
{
	return conn_ssl(s->conn) == NULL && !(s->loopback && s->srv->cf->plaintext_loopback);
}

/* ---- commands ---- */

static int
cmd_capa(struct session *s, int argc, char **argv)
{
	pop3_reply(s, "+OK capability list follows");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	if (s->state == ST_AUTH && !pop3_plaintext_refused(s)) {
		pop3_reply(s, "USER");
		pop3_reply(s, "SASL PLAIN LOGIN");
	}
	if (s->state == ST_AUTH && conn_ssl(s->conn) == NULL)
		pop3_reply(s, "STLS");
	pop3_reply(s, "IMPLEMENTATION popgate");
	return pop3_reply(s, ".");
}

static int
cmd_user(struct session *s, int argc, char **argv)
{
	if (pop3_plaintext_refused(s))
		return pop3_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
	free(s->user_arg);
	if ((s->user_arg = strdup(argv[1])) == NULL)
		return -1;
	return pop3_reply(s, "+OK send your password");
}

static int
cmd_pass(struct session *s, int argc, char **argv)
{
	char *user;
	int rc;

	if (pop3_plaintext_refused(s))
		return pop3_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
	if (s->user_arg == NULL)
		return pop3_reply(s, "-ERR USER first");
	user = s->user_arg;
	s->user_arg = NULL;
	rc = pop3_login(s, user, argv[1]);
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
		if (pop3_reply(s, "+ %s", challenge) == -1 || conn_flush(s->conn, s->timeout_ms) != 0)
			return -1;
		n = conn_read_line(s->conn, line, sizeof(line), s->timeout_ms);
		if (n == CONN_TOOLONG)
			return pop3_reply(s, "-ERR authentication line too long") == -1 ? -1 : -2;
		if (n < 0)
			return -1;
		resp = line;
	}
	if (strcmp(resp, "*") == 0)
		return pop3_reply(s, "-ERR authentication cancelled") == -1 ? -1 : -2;
	if (strcmp(resp, "=") == 0)
		resp = "";
	rlen = strlen(resp);
	if (rlen % 4 != 0 || rlen / 4 * 3 >= size ||
	    (len = EVP_DecodeBlock(dec, (const unsigned char *)resp, (int)rlen)) < 0)
		return pop3_reply(s, "-ERR invalid base64 in the authentication response") == -1 ? -1 : -2;
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
		return pop3_reply(s, "-ERR malformed AUTH PLAIN response");
	authcid++;
	if (authcid >= end || (passwd = memchr(authcid, '\0', (size_t)(end - authcid))) == NULL)
		return pop3_reply(s, "-ERR malformed AUTH PLAIN response");
	passwd++;
	if (*authzid != '\0' && strcmp(authzid, authcid) != 0) {
		crypto_wipe(dec, sizeof(dec));
		return pop3_reply(s, "-ERR [AUTH] authorization identity must equal the user");
	}
	rc = pop3_login(s, authcid, passwd);
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
		return pop3_reply(s, "-ERR malformed AUTH LOGIN response");
	}
	rc = pop3_login(s, (char *)user, (char *)pass);
	crypto_wipe(pass, sizeof(pass));
	return rc;
}

static int
cmd_auth(struct session *s, int argc, char **argv)
{
	if (argc == 1) {
		/* RFC 5034: a bare AUTH lists the mechanisms. */
		pop3_reply(s, "+OK");
		if (!pop3_plaintext_refused(s)) {
			pop3_reply(s, "PLAIN");
			pop3_reply(s, "LOGIN");
		}
		return pop3_reply(s, ".");
	}
	if (strcasecmp(argv[1], "PLAIN") != 0 && strcasecmp(argv[1], "LOGIN") != 0)
		return pop3_reply(s, "-ERR unsupported authentication mechanism");
	if (pop3_plaintext_refused(s))
		return pop3_reply(s, "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
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
		return pop3_reply(s, "-ERR TLS is already active");
	if ((ctx = pop3_server_tls(s->srv)) == NULL)
		return pop3_reply(s, "-ERR TLS is not available");
	if (pop3_reply(s, "+OK begin TLS negotiation") == -1 || conn_flush(s->conn, s->timeout_ms) != 0) {
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
	return pop3_reply(s, "+OK %zu %lld", count, (long long)size);
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
			return pop3_reply(s, "+OK %lu %s", (unsigned long)(m - s->view.msgs) + 1, m->uidl);
		return pop3_reply(s, "+OK %lu %lld", (unsigned long)(m - s->view.msgs) + 1, (long long)m->size);
	}
	view_stat(&s->view, &count, &size);
	if (uidl)
		pop3_reply(s, "+OK unique-id listing follows");
	else
		pop3_reply(s, "+OK %zu messages (%lld octets)", count, (long long)size);
	for (size_t i = 0; i < s->view.count; i++) {
		m = &s->view.msgs[i];
		if (m->deleted)
			continue;
		if (uidl ? pop3_reply(s, "%zu %s", i + 1, m->uidl) : pop3_reply(s, "%zu %lld", i + 1, (long long)m->size))
			return -1;
	}
	return pop3_reply(s, ".");
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

/* Dot-stuffs and sends one chunk, with the Subject prefix inserted where it belongs. */
static int
stream_chunk(struct session *s, struct pop3_dot *dot, struct pop3_subject *subj, const char *prefix,
    const char *in, size_t len, char *out)
{
	char ins[160];
	size_t split = len, olen;

	if (prefix[0] != '\0' && !subj->done)
		split = pop3_subject_find(subj, in, len);
	olen = pop3_dot_encode(dot, in, split, out);
	if (conn_write(s->conn, out, olen, s->timeout_ms) != 0)
		return -1;
	if (subj->found == 1) {
		subj->found = 2;	/* inserted */
		olen = (size_t)snprintf(ins, sizeof(ins), " %s", prefix);
		if (olen >= sizeof(ins) || conn_write(s->conn, ins, olen, s->timeout_ms) != 0)
			return -1;
		olen = pop3_dot_encode(dot, in + split, len - split, out);
		return conn_write(s->conn, out, olen, s->timeout_ms) == 0 ? 0 : -1;
	}
	return 0;
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
	struct pop3_subject subj;
	char *in = NULL, *out = NULL, fin[8];
	const char *error;
	ssize_t n;
	size_t linelen = 0, olen;
	int in_body = 0, done = 0, rc = -1;
	long lines = 0;

	if (store_body_open(s->st, m->id, &body, &error) == -1) {
		log_warnx(s->id, "message %lld: body unavailable: %s", (long long)m->id, error);
		return pop3_reply(s, "-ERR [SYS/TEMP] message body is not available right now");
	}
	if ((in = malloc(CHUNK)) == NULL || (out = malloc(2 * CHUNK)) == NULL)
		goto out;
	pop3_dot_init(&dot);
	pop3_subject_init(&subj);
	if (top >= 0)
		pop3_reply(s, "+OK top of message follows");
	else
		pop3_reply(s, "+OK %lld octets", (long long)m->size);
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
		if (stream_chunk(s, &dot, &subj, m->subject_prefix, in, len, out) == -1)
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
		return pop3_reply(s, "-ERR invalid number of lines");
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
	return pop3_reply(s, "+OK message %lu deleted", (unsigned long)(m - s->view.msgs) + 1);
}

static int
cmd_rset(struct session *s, int argc, char **argv)
{
	size_t count;
	int64_t size;

	view_reset(&s->view);
	view_stat(&s->view, &count, &size);
	return pop3_reply(s, "+OK maildrop has %zu messages (%lld octets)", count, (long long)size);
}

static int
cmd_noop(struct session *s, int argc, char **argv)
{
	return pop3_reply(s, "+OK");
}

static int
cmd_quit(struct session *s, int argc, char **argv)
{
	const char *error;
	int n;

	if (s->state != ST_TRANS) {
		pop3_reply(s, "+OK popgate signing off");
		return -1;
	}
	/* UPDATE state: record the deletions, then let sync remove them upstream. */
	if ((n = view_commit(s->st, &s->view, &error)) == -1) {
		log_warnx(s->id, "cannot record deletions: %s", error);
		pop3_reply(s, "-ERR [SYS/TEMP] could not delete messages; nothing was deleted");
		return -1;
	}
	pop3_unlock_accounts(s->srv, s->accounts, s->naccounts);
	if (n > 0) {
		log_info(s->id, "%d messages deleted by the client", n);
		sync_wait(s->srv->sync, s->accounts, s->naccounts, s->srv->cf->login_wait * 1000);
	}
	s->naccounts = 0;
	pop3_reply(s, "+OK popgate signing off (%d messages deleted)", n);
	return -1;
}

const struct pop3_cmd pop3_commands[] = {
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
