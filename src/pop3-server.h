/*
 * pop3-server: the downstream POP3 service (RFC 1939, 2449, 2595, 5034).
 *
 * Owns the listening sockets, one acceptor thread, and one thread per client
 * session (at most [pop3] max_sessions). Commands come from one table and
 * every check (state, arguments, TLS policy) happens in one place before a
 * handler runs. Messages are streamed from the store in bounded chunks.
 * It never talks to upstream servers: it asks sync for fresh mail and reads
 * what the store holds. Remote text is sanitised before it is logged and
 * passwords are never logged.
 */
#ifndef POPGATE_POP3_SERVER_H
#define POPGATE_POP3_SERVER_H

#include <openssl/ssl.h>

struct config;
struct sync;
struct pop3_server;

/* Binds every [pop3] listener and starts accepting. tls_ctx is up-ref'd. */
int pop3_server_start(const struct config *cf, struct sync *sync, SSL_CTX *tls_ctx,
    struct pop3_server **srv_r, char *err, size_t errlen);
/* Replaces the TLS context for new handshakes (certificate reload). */
void pop3_server_set_tls(struct pop3_server *srv, SSL_CTX *tls_ctx);
/* Stops accepting, asks sessions to end, waits up to a few seconds for them. */
void pop3_server_stop(struct pop3_server **srvp);

#endif
