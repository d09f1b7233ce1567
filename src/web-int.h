/*
 * web-int: what web.c, web-route.c and the api-*.c handlers share. A
 * handler gets the authenticated request and returns the HTTP status with
 * r->reply set (a JSON value the caller sends and frees); web_error()
 * builds the uniform {"error": ..., "code": ...} body.
 */
#ifndef POPGATE_WEB_INT_H
#define POPGATE_WEB_INT_H

#include "store.h"
#include "web.h"

#include <microhttpd.h>

struct web_request {
	struct MHD_Connection *conn;
	const struct config *cf;
	struct store *st;               /* this pool thread's own */
	const struct web_route *route;
	struct web_params params;
	struct store_user user;         /* id 0: not authenticated */
	json_t *body;                   /* parsed request body, or NULL */
	json_t *reply;
	char session[65];               /* hex hash of the session cookie; "" with a bearer token */
	char csrf[65];                  /* that session's CSRF token */
	char set_cookie[160];           /* a Set-Cookie for the reply, or "" */
};

typedef int web_handler(struct web_request *r);

struct web_route {
	const char *method;
	const char *pattern;
	enum web_auth auth;
	web_handler *handler;
};

/* Sets r->reply to the error body and returns status. */
int web_error(struct web_request *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets r->reply (stolen) and returns status. */
int web_reply(struct web_request *r, int status, json_t *reply);
/* A query argument (URL-decoded by libmicrohttpd), or NULL. */
const char *web_query(struct web_request *r, const char *name);
/* One audit row for a state-changing call; a failure is logged, not returned. */
void web_audit(struct web_request *r, const char *action, const char *target, const char *result);
/* A JSON string of s, sanitised when it is not UTF-8; null for NULL. */
json_t *web_json_str(const char *s);

/* api-misc.c */
int api_health(struct web_request *r);
int api_me(struct web_request *r);
int api_accounts(struct web_request *r);
/* api-quarantine.c */
int api_quarantine_list(struct web_request *r);
int api_quarantine_get(struct web_request *r);
int api_quarantine_release(struct web_request *r);
int api_quarantine_confirm(struct web_request *r);
int api_quarantine_delete(struct web_request *r);
/* api-session.c */
int api_login(struct web_request *r);
int api_logout(struct web_request *r);
/* api-filter.c */
int api_lists_get(struct web_request *r);
int api_lists_add(struct web_request *r);
int api_lists_del(struct web_request *r);
int api_filter_get(struct web_request *r);
int api_filter_set(struct web_request *r);

#endif
