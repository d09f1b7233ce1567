/*
 * api-session: dashboard login and logout. A login checks the scrypt
 * password, keeps only the SHA-256 of the new session cookie, and answers
 * with the session's CSRF token. A failed login looks the same whether the
 * user exists or not: the same reply, a password check against a stand-in
 * hash for unknown users, and the same pause.
 */
#include "web-int.h"
#include "crypto.h"
#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOGIN_FAIL_DELAY_US 400000  /* pause after a failed login */
#define LOGIN_FIELD_MAX 256

static pthread_once_t standin_once = PTHREAD_ONCE_INIT;
static char *standin_hash;

static void
standin_init(void)
{
	standin_hash = crypto_password_hash("popgate: no such user");
}

/* 1 password right, 0 not (unknown user included), -1 store error. */
static int
check_login(struct web_request *r, const char *name, const char *password)
{
	const char *error;
	int rc, ok = 0;

	if ((rc = store_user_get(r->st, name, &r->user, &error)) == -1) {
		log_warnx("web", "user lookup: %s", error);
		return -1;
	}
	if (rc == 1 && r->user.pwhash != NULL)
		ok = crypto_password_verify(password, r->user.pwhash) == 1;
	else {
		pthread_once(&standin_once, standin_init);
		if (standin_hash != NULL)
			(void)crypto_password_verify(password, standin_hash);
	}
	if (!ok)
		store_user_clear(&r->user);
	return ok;
}

int
api_login(struct web_request *r)
{
	json_t *ju = json_object_get(r->body, "user"), *jp = json_object_get(r->body, "password");
	char *token = NULL, *csrf = NULL, hash[65], target[LOGIN_FIELD_MAX];
	const char *name, *error;
	int64_t now = (int64_t)time(NULL);
	int ok, status;

	if (!json_is_string(ju) || !json_is_string(jp) || json_string_length(ju) == 0 ||
	    json_string_length(ju) >= LOGIN_FIELD_MAX || json_string_length(jp) >= LOGIN_FIELD_MAX ||
	    strlen(json_string_value(ju)) != json_string_length(ju) ||
	    strlen(json_string_value(jp)) != json_string_length(jp))
		return web_error(r, 400, "bad_request", "expected {\"user\": \"...\", \"password\": \"...\"}");
	name = json_string_value(ju);
	log_sanitize(name, strlen(name), 100, target, sizeof(target));
	if ((ok = check_login(r, name, json_string_value(jp))) == -1)
		return web_error(r, 500, "internal", "the store failed");
	if (!ok) {
		usleep(LOGIN_FAIL_DELAY_US);
		web_audit(r, "login", target, "bad credentials");
		return web_error(r, 401, "unauthorized", "wrong user name or password");
	}
	if ((token = crypto_token(32)) == NULL || (csrf = crypto_token(32)) == NULL ||
	    web_token_hash(token, hash) == -1 || web_session_cookie(token, r->set_cookie,
	    sizeof(r->set_cookie)) == -1) {
		status = web_error(r, 500, "internal", "cannot make a session");
		goto out;
	}
	if (store_session_add(r->st, r->user.id, hash, csrf, now, now + WEB_SESSION_TTL, &error) == -1) {
		log_warnx("web", "session add: %s", error);
		r->set_cookie[0] = '\0';
		status = web_error(r, 500, "internal", "the store failed");
		goto out;
	}
	web_audit(r, "login", target, "ok");
	status = web_reply(r, 200, json_pack("{s:o, s:b, s:s, s:I}", "name", web_json_str(r->user.name),
	    "admin", r->user.admin, "csrf", csrf, "expires", (json_int_t)(now + WEB_SESSION_TTL)));
out:
	if (token != NULL)
		crypto_wipe(token, strlen(token));
	free(token);
	free(csrf);
	return status;
}

int
api_logout(struct web_request *r)
{
	const char *error;

	if (r->session[0] == '\0')
		return web_error(r, 400, "bad_request",
		    "logout ends a browser session; an API token is removed with popgate token del");
	if (store_session_del(r->st, r->session, &error) == -1) {
		log_warnx("web", "session delete: %s", error);
		return web_error(r, 500, "internal", "the store failed");
	}
	(void)web_session_cookie(NULL, r->set_cookie, sizeof(r->set_cookie));
	web_audit(r, "logout", r->user.name != NULL ? r->user.name : "", "ok");
	return web_reply(r, 200, json_pack("{s:s}", "result", "logged out"));
}
