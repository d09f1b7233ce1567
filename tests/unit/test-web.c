/* The web module's pure parts: route matching, ids, bodies, tokens, and the token store. */
#include "config.h"
#include "store.h"
#include "web.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loads a config whose [web] section is web; 1 accepted, 0 refused (err filled). */
static int
web_config(const char *dir, const char *web, char *err, size_t errlen)
{
	char path[256];
	struct config *cf;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/web.ini", dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fprintf(fp, "[general]\nstate_dir = %s\n[dns]\nmode = system\n[web]\n%s\n", dir, web);
	fclose(fp);
	cf = config_load(path, err, errlen);
	unlink(path);
	if (cf == NULL)
		return 0;
	config_free(&cf);
	return 1;
}

static const char *
route(const char *method, const char *path, struct web_params *p, int *status)
{
	char allow[64];
	const struct web_route *rt = web_route_find(method, path, p, status, allow, sizeof(allow));

	return rt != NULL ? web_route_pattern(rt) : NULL;
}

int
main(void)
{
	struct web_params p;
	char hex[65], hex2[65], value[64], err[300], dir[] = "/tmp/popgate-test-web.XXXXXX", path[256], big[700];
	char csrf[65], val[160];
	const char *kind, *pattern, *error, *ctype;
	json_t *obj;
	int64_t id, tid;
	long n;
	int status, unset;
	char *tok;
	struct store *st;
	struct store_user u;

	/* matching */
	CHECK(web_route_match("/api/v1/health", "/api/v1/health", &p) == 1 && p.n == 0, "literal route");
	CHECK(web_route_match("/api/v1/health", "/api/v1/health/", &p) == 0, "no trailing slash");
	CHECK(web_route_match("/api/v1/health", "/api/v1/healt", &p) == 0, "no prefix match");
	CHECK(web_route_match("/api/v1/quarantine/{id}", "/api/v1/quarantine/42", &p) == 1 && p.n == 1,
	    "one parameter");
	CHECK_STR(p.v[0], "42", "its value");
	CHECK(web_route_match("/api/v1/quarantine/{id}", "/api/v1/quarantine/", &p) == 0, "empty parameter refused");
	CHECK(web_route_match("/api/v1/quarantine/{id}", "/api/v1/quarantine/4/release", &p) == 0,
	    "a parameter stops at a slash");
	CHECK(web_route_match("/api/v1/quarantine/{id}/release", "/api/v1/quarantine/4/release", &p) == 1,
	    "parameter inside a path");
	CHECK(web_route_match("/api/v1/lists/{kind}/{pattern*}", "/api/v1/lists/block/a/b@c", &p) == 1 && p.n == 2,
	    "rest parameter");
	CHECK_STR(p.v[1], "a/b@c", "the rest keeps its slashes");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "/api/v1/quarantine/", 19);
	CHECK(web_route_match("/api/v1/quarantine/{id}", big, &p) == 0, "an over-long parameter does not match");

	/* the table */
	CHECK_STR(route("GET", "/api/v1/quarantine/9", &p, &status), "/api/v1/quarantine/{id}", "GET quarantine id");
	CHECK_STR(route("DELETE", "/api/v1/quarantine/9", &p, &status), "/api/v1/quarantine/{id}", "DELETE same path");
	CHECK(route("PUT", "/api/v1/quarantine/9", &p, &status) == NULL && status == 405, "wrong method is 405");
	CHECK(route("GET", "/api/v1/nothing", &p, &status) == NULL && status == 404, "unknown path is 404");
	CHECK(route("GET", "/", &p, &status) == NULL && status == 404, "root is 404");
	{
		char allow[64];
		web_route_find("PATCH", "/api/v1/lists", &p, &status, allow, sizeof(allow));
		CHECK_STR(allow, "GET, POST", "Allow lists the methods");
	}

	/* numbers */
	CHECK(web_parse_id("17", &id) == 0 && id == 17, "id");
	CHECK(web_parse_id("0", &id) == -1, "id 0 refused");
	CHECK(web_parse_id("-3", &id) == -1, "negative id refused");
	CHECK(web_parse_id("1e3", &id) == -1, "not decimal refused");
	CHECK(web_parse_id("99999999999999999999", &id) == -1, "huge id refused");
	CHECK(web_parse_count("500", 500, &n) == 0 && n == 500, "count at max");
	CHECK(web_parse_count("501", 500, &n) == -1, "count over max");
	CHECK(web_parse_count("", 500, &n) == -1, "empty count");

	/* bodies */
	CHECK(web_json_body("{\"a\":1}", 7, &obj, err, sizeof(err)) == 0, "object body");
	json_decref(obj);
	CHECK(web_json_body("[1]", 3, &obj, err, sizeof(err)) == -1, "array body refused");
	CHECK(web_json_body("{\"a\":", 5, &obj, err, sizeof(err)) == -1 && strstr(err, "bad JSON") != NULL,
	    "broken JSON refused: %s", err);
	CHECK(web_json_body("{\"a\":1,\"a\":2}", 13, &obj, err, sizeof(err)) == -1, "duplicate keys refused");
	CHECK(web_json_body("", 0, &obj, err, sizeof(err)) == -1, "empty body refused");

	web_json_body("{\"kind\":\"block\",\"pattern\":\"*@x.example\"}", 40, &obj, err, sizeof(err));
	CHECK(web_body_list_entry(obj, &kind, &pattern, err, sizeof(err)) == 0, "list entry");
	CHECK_STR(pattern, "*@x.example", "its pattern");
	json_decref(obj);
	web_json_body("{\"kind\":\"grey\",\"pattern\":\"a\"}", 29, &obj, err, sizeof(err));
	CHECK(web_body_list_entry(obj, &kind, &pattern, err, sizeof(err)) == -1, "unknown list refused");
	json_decref(obj);
	web_json_body("{\"kind\":\"allow\",\"pattern\":\"a\\u0000b\"}", 36, &obj, err, sizeof(err));
	CHECK(web_body_list_entry(obj, &kind, &pattern, err, sizeof(err)) == -1, "NUL in a pattern refused");
	json_decref(obj);

	web_json_body("{\"value\":0.95}", 14, &obj, err, sizeof(err));
	CHECK(web_body_setting(obj, value, sizeof(value), &unset, err, sizeof(err)) == 0 && !unset &&
	    atof(value) == 0.95, "number setting");
	json_decref(obj);
	web_json_body("{\"value\":12}", 12, &obj, err, sizeof(err));
	web_body_setting(obj, value, sizeof(value), &unset, err, sizeof(err));
	CHECK_STR(value, "12", "integer setting");
	json_decref(obj);
	web_json_body("{\"value\":null}", 14, &obj, err, sizeof(err));
	CHECK(web_body_setting(obj, value, sizeof(value), &unset, err, sizeof(err)) == 0 && unset, "null unsets");
	json_decref(obj);
	web_json_body("{\"value\":[1]}", 13, &obj, err, sizeof(err));
	CHECK(web_body_setting(obj, value, sizeof(value), &unset, err, sizeof(err)) == -1, "array value refused");
	json_decref(obj);
	web_json_body("{\"v\":1}", 7, &obj, err, sizeof(err));
	CHECK(web_body_setting(obj, value, sizeof(value), &unset, err, sizeof(err)) == -1, "missing value refused");
	json_decref(obj);

	/* tokens */
	tok = web_token_new();
	CHECK(tok != NULL && strncmp(tok, "pgt_", 4) == 0 && strlen(tok) == 4 + 43, "token is pgt_ + 43 base64url");
	CHECK(tok != NULL && strspn(tok + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
	    "base64url alphabet");
	CHECK(web_token_hash("abc", hex) == 0, "hash");
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "SHA-256 of abc");

	/* the token store */
	if (mkdtemp(dir) == NULL)
		return 99;
	snprintf(path, sizeof(path), "%s/popgate.db", dir);
	CHECK(store_open(path, &st, &error) == 0, "store opens");
	CHECK(store_user_add(st, "ann", "x", 0, &error) == 0, "user");
	store_user_get(st, "ann", &u, &error);
	web_token_hash(tok, hex);
	CHECK(store_api_token_add(st, u.id, "laptop", hex, &id, &error) == 0, "token stored");
	store_user_clear(&u);
	CHECK(store_api_token_find(st, hex, 1000, &u, &tid, &error) == 1 && tid == id, "token found");
	CHECK_STR(u.name, "ann", "its user");
	store_user_clear(&u);
	web_token_hash("pgt_wrong", hex2);
	CHECK(store_api_token_find(st, hex2, 1000, &u, &tid, &error) == 0, "wrong token not found");
	CHECK(store_api_token_find(st, "short", 1000, &u, &tid, &error) == 0, "malformed hash not found");
	CHECK(store_audit_add(st, "ann", "list.add", "block x", "ok", &error) == 0, "audit row");
	CHECK(store_api_token_del(st, id, &error) == 1, "token deleted");
	CHECK(store_api_token_find(st, hex, 1000, &u, &tid, &error) == 0, "deleted token not found");

	/* dashboard sessions: found until they expire, gone after logout, swept on the next login */
	store_user_get(st, "ann", &u, &error);
	id = u.id;
	store_user_clear(&u);
	web_token_hash("cookie-one", hex);
	web_token_hash("cookie-two", hex2);
	CHECK(store_session_add(st, id, hex, "c1", 1000, 1000 + WEB_SESSION_TTL, &error) == 0, "session stored");
	CHECK(store_session_find(st, hex, 1001, &u, csrf, &error) == 1 && u.id == id, "session found");
	CHECK_STR(u.name, "ann", "session user");
	CHECK_STR(csrf, "c1", "session CSRF token");
	store_user_clear(&u);
	CHECK(store_session_find(st, hex, 1000 + WEB_SESSION_TTL, &u, csrf, &error) == 0 && csrf[0] == '\0',
	    "expired session not found");
	CHECK(store_session_find(st, hex2, 1001, &u, csrf, &error) == 0, "unknown session not found");
	CHECK(store_session_find(st, "short", 1001, &u, csrf, &error) == 0, "malformed session hash not found");
	CHECK(store_session_add(st, id, hex2, "c2", 1000 + WEB_SESSION_TTL, 2000 + WEB_SESSION_TTL, &error) == 0,
	    "second session");
	CHECK(store_session_del(st, hex, &error) == 0, "the expired session was swept by the next login");
	CHECK(store_session_del(st, hex2, &error) == 1, "logout deletes the session");
	CHECK(store_session_find(st, hex2, 1001 + WEB_SESSION_TTL, &u, csrf, &error) == 0, "gone after logout");
	store_close(&st);
	free(tok);

	/* the listener stays on loopback unless allow_remote says otherwise */
	CHECK(web_config(dir, "listen = 127.0.0.1:8025", err, sizeof(err)) == 1, "127.0.0.1 accepted");
	CHECK(web_config(dir, "listen = 127.8.9.10:8025", err, sizeof(err)) == 1, "127/8 accepted");
	CHECK(web_config(dir, "listen = [::1]:8025", err, sizeof(err)) == 1, "[::1] accepted");
	CHECK(web_config(dir, "listen = localhost:8025", err, sizeof(err)) == 1, "localhost accepted");
	CHECK(web_config(dir, "listen =", err, sizeof(err)) == 1, "an empty listen turns it off");
	CHECK(web_config(dir, "listen = 0.0.0.0:8025", err, sizeof(err)) == 0 && strstr(err, "allow_remote") != NULL,
	    "0.0.0.0 refused: %s", err);
	CHECK(web_config(dir, "listen = 192.0.2.7:8025", err, sizeof(err)) == 0, "a LAN address refused");
	CHECK(web_config(dir, "listen = [::]:8025", err, sizeof(err)) == 0, "[::] refused");
	CHECK(web_config(dir, "listen = *:8025", err, sizeof(err)) == 0, "* refused");
	CHECK(web_config(dir, "listen = mail.example:8025", err, sizeof(err)) == 0, "a host name refused");
	CHECK(web_config(dir, "listen = 0.0.0.0:8025\nallow_remote = yes", err, sizeof(err)) == 1,
	    "allow_remote = yes accepts it");
	CHECK(web_config(dir, "allow_remote = maybe", err, sizeof(err)) == 0, "allow_remote is yes or no");

	/* cookies */
	CHECK(web_cookie_get("popgate_session=abc", "popgate_session", val, sizeof(val)) == 1, "lone cookie");
	CHECK_STR(val, "abc", "its value");
	CHECK(web_cookie_get("a=1; popgate_session=xyz ; b=2", "popgate_session", val, sizeof(val)) == 1,
	    "cookie among others");
	CHECK_STR(val, "xyz", "trailing blanks dropped");
	CHECK(web_cookie_get("xpopgate_session=1; popgate_sessionx=2", "popgate_session", val, sizeof(val)) == 0,
	    "a longer or shorter name is not the cookie");
	CHECK(web_cookie_get("popgate_session=", "popgate_session", val, sizeof(val)) == 0, "empty value refused");
	CHECK(web_cookie_get("popgate_session=0123456789", "popgate_session", val, 8) == 0, "too long refused");
	CHECK(web_cookie_get(";;", "popgate_session", val, sizeof(val)) == 0, "no cookie");
	CHECK(web_cookie_get(NULL, "popgate_session", val, sizeof(val)) == 0, "no header");
	CHECK(web_session_cookie("v1", val, sizeof(val)) == 0, "Set-Cookie built");
	CHECK_STR(val, "popgate_session=v1; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200", "Set-Cookie");
	CHECK(web_session_cookie(NULL, val, sizeof(val)) == 0 && strstr(val, "Max-Age=0") != NULL &&
	    strncmp(val, "popgate_session=;", 17) == 0, "clearing cookie");
	CHECK(web_session_cookie("v1", val, 10) == -1, "small buffer refused");

	/* CSRF */
	CHECK(web_csrf_ok("abcd", "abcd") == 1, "same token");
	CHECK(web_csrf_ok("abcd", "abce") == 0, "other token");
	CHECK(web_csrf_ok("abcd", "abc") == 0, "prefix");
	CHECK(web_csrf_ok("abcd", "abcde") == 0, "longer");
	CHECK(web_csrf_ok("abcd", NULL) == 0, "missing header");
	CHECK(web_csrf_ok("", "") == 0, "an empty token matches nothing");
	CHECK(web_csrf_ok(NULL, "x") == 0, "no session token");

	/* static names */
	CHECK(web_static_name("/", val, sizeof(val), &ctype) == 1, "/ is static");
	CHECK_STR(val, "index.html", "/ is index.html");
	CHECK_STR(ctype, "text/html; charset=utf-8", "html type");
	CHECK(web_static_name("/static/app.js", val, sizeof(val), &ctype) == 1, "app.js");
	CHECK_STR(ctype, "text/javascript; charset=utf-8", "js type");
	CHECK(web_static_name("/static/app.css", val, sizeof(val), &ctype) == 1 &&
	    strcmp(ctype, "text/css; charset=utf-8") == 0, "css type");
	CHECK(web_static_name("/static/favicon.svg", val, sizeof(val), &ctype) == 1 &&
	    strcmp(ctype, "image/svg+xml") == 0, "svg type");
	CHECK(web_static_name("/api/v1/me", val, sizeof(val), &ctype) == 0, "the API is not static");
	CHECK(web_static_name("/index.html", val, sizeof(val), &ctype) == 0, "only / and /static/");
	CHECK(web_static_name("/static", val, sizeof(val), &ctype) == 0, "/static alone is not a file");
	{
		static const char *const bad[] = { "/static/", "/static/../x.js", "/static/..", "/static/.js",
		    "/static/a/b.js", "/static/a.sh", "/static/a.JS", "/static/A.js", "/static/a.js.map",
		    "/static/a.min.js", "/static/a%2e.js", "/static/a\\b.js", "/static/.htaccess",
		    "/static//etc/passwd", "/static/a.html/", "/static/ a.js", "/static/a" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK(web_static_name(bad[i], val, sizeof(val), &ctype) == -1, "refused: %s", bad[i]);
	}
	CHECK(web_static_name("/static/app.js", val, 6, &ctype) == -1, "a name longer than the buffer");

	unlink(path);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 99;
	return test_done();
}
