/*
 * web: the libmicrohttpd daemon. A request goes through one path: the
 * route is found and the caller authenticated as soon as the headers are
 * in (so a refused request never has its body read), the body is collected
 * up to WEB_BODY_MAX, then the handler runs and its JSON is sent with the
 * security headers.
 */
#include "web-int.h"
#include "log.h"
#include "net.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define WEB_THREADS 4
#define WEB_CONN_TIMEOUT 30         /* seconds of silence before a connection is closed */
#define WEB_CONN_LIMIT 64

struct web {
	struct MHD_Daemon *daemon;
	const struct config *cf;
	char *db_path;
	char *root;                     /* the dashboard's files */
};

/* The pool threads' stores, closed when a thread ends. */
static pthread_key_t store_key;
static pthread_once_t store_key_once = PTHREAD_ONCE_INIT;

struct conn_state {
	int started;                    /* the headers were looked at */
	int refused;                    /* a response was queued at once */
	int too_large;
	char *buf;
	size_t len;
	struct web_request req;
};

static void
store_key_free(void *p)
{
	struct store *st = p;

	store_close(&st);
}

static void
store_key_init(void)
{
	if (pthread_key_create(&store_key, store_key_free) != 0)
		fatal("pthread_key_create failed");
}

static struct store *
thread_store(struct web *w)
{
	struct store *st = pthread_getspecific(store_key);
	const char *error;

	if (st != NULL)
		return st;
	if (store_open(w->db_path, &st, &error) == -1) {
		log_warnx("web", "cannot open the store: %s", error);
		return NULL;
	}
	pthread_setspecific(store_key, st);
	return st;
}

json_t *
web_json_str(const char *s)
{
	json_t *j;
	char *copy;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	/* Not UTF-8 (8-bit headers): bytes above ASCII are shown as '?'. */
	if ((copy = strdup(s)) == NULL)
		return json_null();
	for (char *c = copy; *c != '\0'; c++) {
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	}
	j = json_string(copy);
	free(copy);
	return j != NULL ? j : json_null();
}

int
web_error(struct web_request *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(r->reply);
	r->reply = json_pack("{s:o, s:s}", "error", web_json_str(msg), "code", code);
	return status;
}

int
web_reply(struct web_request *r, int status, json_t *reply)
{
	json_decref(r->reply);
	r->reply = reply;
	if (reply == NULL)
		return web_error(r, 500, "internal", "out of memory");
	return status;
}

const char *
web_query(struct web_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void
web_audit(struct web_request *r, const char *action, const char *target, const char *result)
{
	const char *error;

	if (store_audit_add(r->st, r->user.name != NULL ? r->user.name : "", action, target, result,
	    &error) == -1)
		log_warnx("web", "audit log: %s", error);
}

#define CSP_API "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
/* The dashboard: its own files only, no inline script or style, no other origin. */
#define CSP_PAGE "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

static void
add_headers(struct MHD_Response *resp, const char *ctype, const char *csp)
{
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result
send_reply(struct web_request *r, int status, const char *allow, int challenge)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;

	if (r->reply != NULL)
		text = json_dumps(r->reply, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15));
	if (text == NULL) {
		status = 500;
		text = strdup("{\"error\":\"out of memory\",\"code\":\"internal\"}");
		if (text == NULL)
			return MHD_NO;
	}
	/* One line a file: curl and people reading the output like a final newline. */
	{
		size_t n = strlen(text);
		char *t = realloc(text, n + 2);

		if (t != NULL) {
			text = t;
			text[n] = '\n';
			text[n + 1] = '\0';
		}
	}
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	add_headers(resp, "application/json; charset=utf-8", CSP_API);
	if (r->set_cookie[0] != '\0')
		MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
	if (allow != NULL)
		MHD_add_response_header(resp, "Allow", allow);
	if (challenge)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"popgate\"");
	ret = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * A browser's session cookie: 1 authenticated, 0 refused, -1 store error.
 * A state-changing method must echo the session's CSRF token.
 */
static int
authenticate_cookie(struct web_request *r, const char *method, const char *cookie, int *status_r)
{
	const char *error, *given;
	char value[128];
	int rc;

	if (!web_cookie_get(cookie, WEB_SESSION_COOKIE, value, sizeof(value)) ||
	    web_token_hash(value, r->session) == -1) {
		r->session[0] = '\0';
		*status_r = web_error(r, 401, "unauthorized", "log in, or send an API token (Authorization: Bearer TOKEN)");
		return 0;
	}
	if ((rc = store_session_find(r->st, r->session, (int64_t)time(NULL), &r->user, r->csrf, &error)) == -1) {
		log_warnx("web", "session lookup: %s", error);
		r->session[0] = '\0';
		*status_r = web_error(r, 500, "internal", "the store failed");
		return -1;
	}
	if (rc == 0) {
		r->session[0] = '\0';
		*status_r = web_error(r, 401, "unauthorized", "the session has ended; log in again");
		return 0;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		given = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
		if (!web_csrf_ok(r->csrf, given)) {
			*status_r = web_error(r, 403, "csrf", "the X-CSRF-Token header is missing or wrong");
			return 0;
		}
	}
	return 1;
}

/* 1 authenticated, 0 refused (status in *status_r, reply set), -1 store error. */
static int
authenticate(struct web_request *r, const char *method, int *status_r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
	const char *error;
	char hex[65];
	int64_t token_id;
	int rc;

	if (h == NULL && cookie != NULL) {
		if ((rc = authenticate_cookie(r, method, cookie, status_r)) != 1)
			return rc;
		goto admin;
	}
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		*status_r = web_error(r, 401, "unauthorized", "an API token is needed (Authorization: Bearer TOKEN)");
		return 0;
	}
	h += 7;
	while (*h == ' ')
		h++;
	if (strlen(h) > 256 || web_token_hash(h, hex) == -1) {
		*status_r = web_error(r, 401, "unauthorized", "bad API token");
		return 0;
	}
	if ((rc = store_api_token_find(r->st, hex, (int64_t)time(NULL), &r->user, &token_id, &error)) == -1) {
		log_warnx("web", "token lookup: %s", error);
		*status_r = web_error(r, 500, "internal", "the store failed");
		return -1;
	}
	if (rc == 0) {
		*status_r = web_error(r, 401, "unauthorized", "bad API token");
		return 0;
	}
admin:
	if (web_route_auth(r->route) == WEB_AUTH_ADMIN && !r->user.admin) {
		*status_r = web_error(r, 403, "forbidden", "only an admin may do this");
		return 0;
	}
	return 1;
}

/* A state-changing call refused before its handler ran still leaves an audit row. */
static void
audit_refused(struct web_request *r, const char *method, const char *url, const char *why)
{
	char action[64], target[256];

	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || r->st == NULL || r->route == NULL)
		return;
	snprintf(action, sizeof(action), "%s %s", method, web_route_pattern(r->route));
	log_sanitize(url, strlen(url), 200, target, sizeof(target));
	web_audit(r, action, target, why);
}

static void
log_request(struct web_request *r, const char *method, const char *url, int status)
{
	char safe[256];

	log_info("web", "%s %s %d%s%s", method, log_sanitize(url, strlen(url), 200, safe, sizeof(safe)), status,
	    r->user.name != NULL ? " user " : "", r->user.name != NULL ? r->user.name : "");
}

/* A file of the dashboard (the name is checked by web_static_name). */
static enum MHD_Result
send_static(struct web *w, struct web_request *r, const char *method, const char *url)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *ctype;
	char name[80], path[4096];
	struct stat sb;
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd = -1;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		web_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: GET, HEAD)", method);
		log_request(r, method, url, 405);
		return send_reply(r, 405, "GET, HEAD", 0);
	}
	if (web_static_name(url, name, sizeof(name), &ctype) != 1 ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", w->root, name) >= sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 || fstat(fd, &sb) == -1 ||
	    !S_ISREG(sb.st_mode) || sb.st_size > WEB_STATIC_MAX ||
	    (buf = malloc((size_t)sb.st_size + 1)) == NULL)
		goto fail;
	while (got < (size_t)sb.st_size) {
		if ((n = read(fd, buf + got, (size_t)sb.st_size - got)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	if ((resp = MHD_create_response_from_buffer(got, buf, MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(buf);
		return MHD_NO;
	}
	add_headers(resp, ctype, CSP_PAGE);
	log_request(r, method, url, 200);
	ret = MHD_queue_response(r->conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
fail:
	if (fd != -1)
		close(fd);
	free(buf);
	web_error(r, 404, "not_found", "no such file");
	log_request(r, method, url, 404);
	return send_reply(r, 404, NULL, 0);
}

/* Looks at the headers: route, auth, size. 1 go on, 0 a response was queued. */
static int
start_request(struct web *w, struct conn_state *cs, const char *method, const char *url,
    enum MHD_Result *ret_r)
{
	struct web_request *r = &cs->req;
	const char *cl;
	char allow[64];
	int status;

	r->conn = cs->req.conn;
	r->cf = w->cf;
	if ((r->route = web_route_find(method, url, &r->params, &status, allow, sizeof(allow))) == NULL) {
		if (status == 405)
			web_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", method, allow);
		else
			web_error(r, 404, "not_found", "no such API endpoint");
		log_request(r, method, url, status);
		*ret_r = send_reply(r, status, status == 405 ? allow : NULL, 0);
		return 0;
	}
	if ((r->st = thread_store(w)) == NULL) {
		web_error(r, 503, "unavailable", "the store cannot be opened");
		*ret_r = send_reply(r, 503, NULL, 0);
		return 0;
	}
	if (web_route_auth(r->route) != WEB_AUTH_NONE && authenticate(r, method, &status) != 1) {
		if (status == 403) {
			const char *code = json_string_value(json_object_get(r->reply, "code"));

			audit_refused(r, method, url, code != NULL && strcmp(code, "csrf") == 0 ?
			    "csrf token missing or wrong" : "forbidden");
		}
		log_request(r, method, url, status);
		*ret_r = send_reply(r, status, NULL, status == 401);
		return 0;
	}
	if ((cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH)) != NULL &&
	    strtoull(cl, NULL, 10) > WEB_BODY_MAX) {
		web_error(r, 413, "too_large", "the body is larger than %d bytes", WEB_BODY_MAX);
		audit_refused(r, method, url, "body too large");
		log_request(r, method, url, 413);
		*ret_r = send_reply(r, 413, NULL, 0);
		return 0;
	}
	return 1;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct web *w = cls;
	struct conn_state *cs = *con_cls;
	struct web_request *r;
	enum MHD_Result ret;
	char err[300];
	int status;

	(void)version;
	if (cs == NULL) {
		if ((cs = calloc(1, sizeof(*cs))) == NULL)
			return MHD_NO;
		*con_cls = cs;
		cs->req.conn = conn;
		if (strcmp(url, "/") == 0 || strncmp(url, "/static/", 8) == 0) {
			cs->refused = 1;
			return send_static(w, &cs->req, method, url);
		}
		if (!start_request(w, cs, method, url, &ret)) {
			cs->refused = 1;
			return ret;
		}
		cs->started = 1;
		return MHD_YES;
	}
	r = &cs->req;
	if (cs->refused) {
		/* A response is queued; whatever else arrives is dropped. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!cs->too_large && cs->len + *upload_data_size <= WEB_BODY_MAX) {
			char *nb = realloc(cs->buf, cs->len + *upload_data_size + 1);

			if (nb == NULL)
				return MHD_NO;
			cs->buf = nb;
			memcpy(cs->buf + cs->len, upload_data, *upload_data_size);
			cs->len += *upload_data_size;
			cs->buf[cs->len] = '\0';
		} else
			cs->too_large = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The whole request is in. */
	if (cs->too_large) {
		status = web_error(r, 413, "too_large", "the body is larger than %d bytes", WEB_BODY_MAX);
		audit_refused(r, method, url, "body too large");
	} else if ((strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) && cs->len > 0 &&
	    web_json_body(cs->buf, cs->len, &r->body, err, sizeof(err)) == -1) {
		status = web_error(r, 400, "bad_request", "%s", err);
		audit_refused(r, method, url, err);
	} else
		status = r->route->handler(r);
	log_request(r, method, url, status);
	cs->refused = 1;
	return send_reply(r, status, NULL, 0);
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct conn_state *cs = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (cs == NULL)
		return;
	json_decref(cs->req.body);
	json_decref(cs->req.reply);
	store_user_clear(&cs->req.user);
	free(cs->buf);
	free(cs);
	*con_cls = NULL;
}

/* libmicrohttpd's messages: its own format strings, checked as printf's. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], safe[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("web", "libmicrohttpd: %s", log_sanitize(msg, n, 400, safe, sizeof(safe)));
}

/*
 * [web] root, else the installed PG_DATADIR/web when it holds index.html,
 * else the source tree's web/ (a daemon run from the build tree).
 */
static int
web_root(const struct config *cf, char **root_r)
{
	const char *installed = PG_DATADIR "/web";

	if (cf->web_root != NULL)
		*root_r = strdup(cf->web_root);
	else if (access(PG_DATADIR "/web/index.html", R_OK) == 0)
		*root_r = strdup(installed);
	else
		*root_r = strdup(PG_SRCWEBDIR);
	return *root_r == NULL ? -1 : 0;
}

int
web_start(const struct config *cf, struct web **web_r, char *err, size_t errlen)
{
	struct web *w;
	int fd;

	*web_r = NULL;
	if (cf->web_listen == NULL)
		return 0;
	pthread_once(&store_key_once, store_key_init);
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->db_path = config_state_path(cf, "popgate.db")) == NULL) {
		free(w);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->cf = cf;
	if (web_root(cf, &w->root) == -1) {
		free(w->db_path);
		free(w);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	log_info("web", "dashboard files in %s", w->root);
	if (net_listen(cf->web_listen, &fd, err, errlen) == -1) {
		free(w->root);
		free(w->db_path);
		free(w);
		return -1;
	}
	w->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_EPOLL,
	    0, NULL, NULL, access_handler, w,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)WEB_THREADS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)WEB_CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)WEB_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
	    MHD_OPTION_NOTIFY_COMPLETED, completed, w,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w,
	    MHD_OPTION_END);
	if (w->daemon == NULL) {
		snprintf(err, errlen, "[web] cannot start the HTTP server on %s", cf->web_listen);
		close(fd);
		free(w->root);
		free(w->db_path);
		free(w);
		return -1;
	}
	*web_r = w;
	return 0;
}

void
web_stop(struct web **webp)
{
	struct web *w = *webp;

	if (w == NULL)
		return;
	MHD_stop_daemon(w->daemon);
	free(w->root);
	free(w->db_path);
	free(w);
	*webp = NULL;
}
