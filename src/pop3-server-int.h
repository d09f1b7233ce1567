/*
 * pop3-server-int: what the session core (pop3-server.c) and the command
 * handlers (pop3-commands.c) share. Nothing outside these two files may
 * include it.
 */
#ifndef POPGATE_POP3_SERVER_INT_H
#define POPGATE_POP3_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "config.h"
#include "conn.h"
#include "view.h"

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

extern const struct pop3_cmd pop3_commands[];

int pop3_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A new reference to the current TLS context, or NULL. */
SSL_CTX *pop3_server_tls(struct pop3_server *srv);
void pop3_unlock_accounts(struct pop3_server *srv, const int64_t *ids, size_t n);
/* Checks the password, locks the accounts, syncs, opens the view; replies itself. -1 closes. */
int pop3_login(struct session *s, const char *userarg, const char *password);
/* Whether this connection may not carry a password (no TLS, not an allowed loopback). */
int pop3_plaintext_refused(struct session *s);

#endif
