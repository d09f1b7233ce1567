#include "pop3-server.h"
#include "pop3-server-int.h"
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


/* ---- small helpers ---- */

int
pop3_reply(struct session *s, const char *fmt, ...)
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

SSL_CTX *
pop3_server_tls(struct pop3_server *srv)
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

void
pop3_unlock_accounts(struct pop3_server *srv, const int64_t *ids, size_t n)
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

int
pop3_login(struct session *s, const char *userarg, const char *password)
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
			return pop3_reply(s, "-ERR [SYS/TEMP] temporary failure, try again later");
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
			rc = pop3_reply(s, "-ERR [SYS/TEMP] temporary failure, try again later");
			goto out;
		}
	}
	if (!ok) {
		log_info(s->id, "login failed for %s from %s", safe, s->peer);
		s->auth_failures++;
		sleep(1);	/* slows down password guessing */
		rc = pop3_reply(s, "-ERR [AUTH] invalid user name or password");
		if (s->auth_failures >= AUTH_FAILURES_MAX) {
			pop3_reply(s, "-ERR too many failed logins, closing");
			rc = -1;
		}
		goto out;
	}
	s->naccounts = cc.n;
	if (lock_accounts(s->srv, s->accounts, s->naccounts) == -1) {
		log_info(s->id, "%s: mailbox in use", safe);
		s->naccounts = 0;
		rc = pop3_reply(s, "-ERR [IN-USE] mailbox is in use by another session");
		goto out;
	}
	/* Fresh mail first, but never make the client wait past login_wait. */
	synced = sync_wait(s->srv->sync, s->accounts, s->naccounts, s->srv->cf->login_wait * 1000);
	if (synced < s->naccounts)
		log_info(s->id, "%zu of %zu accounts synced within login_wait", synced, s->naccounts);
	if (view_build(s->st, va, cc.n, account == NULL, &s->view, &error) == -1) {
		log_warnx(s->id, "store: %s", error);
		pop3_unlock_accounts(s->srv, s->accounts, s->naccounts);
		s->naccounts = 0;
		rc = pop3_reply(s, "-ERR [SYS/TEMP] cannot open the mailbox, try again later");
		goto out;
	} else {
		size_t count;
		int64_t size;

		view_stat(&s->view, &count, &size);
		s->state = ST_TRANS;
		log_info(s->id, "%s logged in from %s: %zu messages", safe, s->peer, count);
		rc = pop3_reply(s, "+OK maildrop has %zu messages (%lld octets)", count, (long long)size);
	}
out:
	for (size_t i = 0; i < cc.n; i++)
		free((char *)va[i].name);
	return rc;
}

/* Returns 0 to go on, -1 to close. */
static int
dispatch(struct session *s, char *line)
{
	const struct pop3_cmd *c;
	char *argv[8], safe[64];
	int argc = pop3_split_args(line, argv, 8);

	if (argc == 0) {
		s->bad_commands++;
		return pop3_reply(s, "-ERR empty command");
	}
	if (argc < 0) {
		s->bad_commands++;
		return pop3_reply(s, "-ERR too many arguments");
	}
	for (c = pop3_commands; c->name != NULL; c++) {
		if (strcasecmp(argv[0], c->name) == 0)
			break;
	}
	if (c->name == NULL) {
		s->bad_commands++;
		log_debug(s->id, "unknown command %s",
		    log_sanitize(argv[0], strlen(argv[0]), 20, safe, sizeof(safe)));
		return pop3_reply(s, "-ERR unknown command");
	}
	if ((c->states & s->state) == 0) {
		s->bad_commands++;
		return pop3_reply(s, s->state == ST_AUTH ? "-ERR log in first" : "-ERR command not valid after login");
	}
	if (argc - 1 < c->min_args || (c->max_args >= 0 && argc - 1 > c->max_args)) {
		s->bad_commands++;
		return pop3_reply(s, "-ERR wrong number of arguments for %s", c->name);
	}
	if (c->max_args == -1 && argc - 1 > 1) {
		s->bad_commands++;
		return pop3_reply(s, "-ERR wrong number of arguments for %s", c->name);
	}
	return c->fn(s, argc, argv);
}

static void
session_loop(struct session *s)
{
	char line[LINE_MAX_LEN + 1];
	int idle_ms = 0, limit_ms = s->srv->cf->idle_timeout * 1000;
	ssize_t n;

	if (pop3_reply(s, "+OK popgate ready") == -1 || conn_flush(s->conn, s->timeout_ms) != 0)
		return;
	for (;;) {
		if (atomic_load(&s->srv->stopping)) {
			pop3_reply(s, "-ERR [SYS/TEMP] popgate is shutting down");
			conn_flush(s->conn, 2000);
			return;
		}
		n = conn_read_line(s->conn, line, sizeof(line), SLICE_MS);
		if (n == CONN_TIMEOUT) {
			idle_ms += SLICE_MS;
			if (idle_ms >= limit_ms) {
				log_info(s->id, "idle for %d s, closing", limit_ms / 1000);
				pop3_reply(s, "-ERR idle for too long, closing");
				conn_flush(s->conn, 2000);
				return;
			}
			continue;
		}
		idle_ms = 0;
		if (n == CONN_TOOLONG) {
			s->bad_commands++;
			pop3_reply(s, "-ERR line too long");
		} else if (n < 0) {
			if (n == CONN_ERROR)
				log_info(s->id, "connection error: %s", conn_error(s->conn));
			return;
		} else if (dispatch(s, line) == -1) {
			conn_flush(s->conn, s->timeout_ms);
			return;
		}
		if (s->bad_commands >= BAD_COMMANDS_MAX) {
			pop3_reply(s, "-ERR too many bad commands, closing");
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
		if ((ctx = pop3_server_tls(s.srv)) == NULL)
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
		pop3_reply(&s, "-ERR [SYS/TEMP] popgate cannot open its store, try again later");
		conn_flush(s.conn, 2000);
		free(db);
		goto out;
	}
	free(db);
	session_loop(&s);
	log_debug(s.id, "session ended");
out:
	if (s.naccounts > 0)
		pop3_unlock_accounts(s.srv, s.accounts, s.naccounts);
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
