/*
 * web: the daemon's HTTP side -- libmicrohttpd on [web] listen with its own
 * thread pool, the routing table, bearer-token authentication, the
 * dashboard's sessions (an HttpOnly cookie plus a CSRF token every
 * state-changing call must echo) and its static files (a fixed pattern of
 * names under [web] root, never a path), and the JSON API handlers
 * (api-*.c). There is no TLS on this listener: config refuses a non-loopback
 * address unless [web] allow_remote = yes.
 *
 * Every request body is capped (WEB_BODY_MAX) before it is parsed, every
 * connection has a timeout, and each pool thread opens its own store. The
 * handlers call the same library functions as the CLI (filter_quarantine_*,
 * store_list_*, verdict_setting_set) and never re-implement them. Tokens
 * are never logged; request paths are sanitised before they are.
 */
#ifndef POPGATE_WEB_H
#define POPGATE_WEB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define WEB_BODY_MAX (64 * 1024)    /* request bodies, bytes */
#define WEB_PATH_MAX 2048
#define WEB_PARAMS_MAX 4
#define WEB_PARAM_LEN 512           /* one path parameter, with its NUL */
#define WEB_TOKEN_PREFIX "pgt_"

struct web;

/* Binds [web] listen and starts the pool; NULL listen: *web_r = NULL, 0. */
int web_start(const struct config *cf, struct web **web_r, char *err, size_t errlen);
void web_stop(struct web **webp);

/* ---- routing and request parsing (web-route.c); no I/O, no store ---- */
struct web_params {
	size_t n;
	char v[WEB_PARAMS_MAX][WEB_PARAM_LEN];
};

/*
 * Whether path matches pattern: literal segments match exactly, "{x}" one
 * non-empty segment, "{x*}" the non-empty rest (slashes included). The
 * values are captured in order. 1 match, 0 not.
 */
int web_route_match(const char *pattern, const char *path, struct web_params *p);

struct web_route;
enum web_auth { WEB_AUTH_NONE, WEB_AUTH_USER, WEB_AUTH_ADMIN };
/*
 * The route for method and path: the route, or NULL with *status_r 404 (no
 * such path) or 405 (the path exists; *allow_r lists its methods).
 */
const struct web_route *web_route_find(const char *method, const char *path, struct web_params *p,
    int *status_r, char *allow, size_t allowlen);
enum web_auth web_route_auth(const struct web_route *rt);
const char *web_route_pattern(const struct web_route *rt);

/* A decimal id (1 .. 2^53): 0, or -1 if it is not one. */
int web_parse_id(const char *s, int64_t *id_r);
/* A decimal count in [0, max]: 0, or -1. */
int web_parse_count(const char *s, long max, long *v_r);
/* A request body that must be one JSON object (new reference): 0, or -1 with err. */
int web_json_body(const char *buf, size_t len, json_t **obj_r, char *err, size_t errlen);
/* {"kind": "allow"|"block", "pattern": "..."}: borrowed strings, 0, or -1 with err. */
int web_body_list_entry(json_t *obj, const char **kind_r, const char **pattern_r, char *err, size_t errlen);
/*
 * {"value": string|number|null} as the text verdict_setting_set() takes
 * (written into buf; *null_r set for null, which unsets): 0, or -1 with err.
 */
int web_body_setting(json_t *obj, char *buf, size_t size, int *null_r, char *err, size_t errlen);

/* A new API token "pgt_" + base64url of 32 random bytes (malloc'd), and its hex SHA-256 (65 bytes). */
char *web_token_new(void);
int web_token_hash(const char *token, char hex[65]);

/* ---- dashboard sessions and static files (web-route.c); no I/O ---- */
#define WEB_SESSION_COOKIE "popgate_session"
#define WEB_SESSION_TTL (12 * 3600)     /* seconds a dashboard login lasts */
#define WEB_STATIC_MAX (1024 * 1024)    /* bytes of one static file */

/*
 * The value of cookie name in a Cookie header, copied into out: 1 found
 * (and it fits), 0 not.
 */
int web_cookie_get(const char *header, const char *name, char *out, size_t outlen);
/* The Set-Cookie value for a session (value NULL: one that clears it): 0, or -1 if buf is too small. */
int web_session_cookie(const char *value, char *buf, size_t len);
/* 1 when given is the session's CSRF token (constant-time), 0 otherwise (NULL or empty included). */
int web_csrf_ok(const char *expected, const char *given);
/*
 * The file a static URL names: "/" is index.html, "/static/NAME" is NAME
 * when NAME is [a-z0-9_-] then one of .html .css .js .svg (no slash, no dot
 * elsewhere). 1 with name and *ctype_r (Content-Type), 0 when url is no
 * static URL, -1 when it is under /static/ but not an allowed name.
 */
int web_static_name(const char *url, char *name, size_t namelen, const char **ctype_r);

#endif
