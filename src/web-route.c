/*
 * web-route: the routing table and the parsers of what a request carries
 * (path, ids, counts, JSON bodies). Pure functions: tests and the fuzz
 * target call them without a daemon.
 */
#include "web-int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct web_route routes[] = {
	{ "GET", "/api/v1/health", WEB_AUTH_NONE, api_health },
	{ "POST", "/api/v1/login", WEB_AUTH_NONE, api_login },
	{ "POST", "/api/v1/logout", WEB_AUTH_USER, api_logout },
	{ "GET", "/api/v1/me", WEB_AUTH_USER, api_me },
	{ "GET", "/api/v1/accounts", WEB_AUTH_USER, api_accounts },
	{ "GET", "/api/v1/quarantine", WEB_AUTH_USER, api_quarantine_list },
	{ "GET", "/api/v1/quarantine/{id}", WEB_AUTH_USER, api_quarantine_get },
	{ "DELETE", "/api/v1/quarantine/{id}", WEB_AUTH_USER, api_quarantine_delete },
	{ "POST", "/api/v1/quarantine/{id}/release", WEB_AUTH_USER, api_quarantine_release },
	{ "POST", "/api/v1/quarantine/{id}/confirm", WEB_AUTH_USER, api_quarantine_confirm },
	/* The lists are global (they apply to every account): only admins change them. */
	{ "GET", "/api/v1/lists", WEB_AUTH_USER, api_lists_get },
	{ "POST", "/api/v1/lists", WEB_AUTH_ADMIN, api_lists_add },
	{ "DELETE", "/api/v1/lists/{kind}/{pattern*}", WEB_AUTH_ADMIN, api_lists_del },
	{ "GET", "/api/v1/filter", WEB_AUTH_USER, api_filter_get },
	{ "PUT", "/api/v1/filter/{key}", WEB_AUTH_ADMIN, api_filter_set },
	{ NULL, NULL, WEB_AUTH_NONE, NULL }
};

int
web_route_match(const char *pattern, const char *path, struct web_params *p)
{
	const char *pp = pattern, *s = path;

	p->n = 0;
	while (*pp != '\0') {
		if (*pp == '{') {
			const char *close = strchr(pp, '}');
			int rest;
			size_t len;

			if (close == NULL || p->n >= WEB_PARAMS_MAX)
				return 0;
			rest = close > pp + 1 && close[-1] == '*';
			len = rest ? strlen(s) : strcspn(s, "/");
			if (len == 0 || len >= WEB_PARAM_LEN)
				return 0;
			memcpy(p->v[p->n], s, len);
			p->v[p->n][len] = '\0';
			p->n++;
			s += len;
			pp = close + 1;
			continue;
		}
		if (*pp != *s)
			return 0;
		pp++;
		s++;
	}
	return *s == '\0';
}

const struct web_route *
web_route_find(const char *method, const char *path, struct web_params *p, int *status_r, char *allow,
    size_t allowlen)
{
	const struct web_route *rt;
	size_t used = 0;

	*status_r = 404;
	if (allowlen > 0)
		allow[0] = '\0';
	if (strlen(path) > WEB_PATH_MAX)
		return NULL;
	for (rt = routes; rt->method != NULL; rt++) {
		if (!web_route_match(rt->pattern, path, p))
			continue;
		if (strcmp(rt->method, method) == 0)
			return rt;
		*status_r = 405;
		if (used < allowlen) {
			int n = snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", rt->method);
			if (n > 0)
				used += (size_t)n;
		}
	}
	p->n = 0;
	return NULL;
}

enum web_auth
web_route_auth(const struct web_route *rt)
{
	return rt->auth;
}

const char *
web_route_pattern(const struct web_route *rt)
{
	return rt->pattern;
}

/* Plain decimal digits, at most maxlen of them: 0 with the value, or -1. */
static int
parse_digits(const char *s, size_t maxlen, int64_t *v_r)
{
	int64_t v = 0;

	if (*s == '\0' || strlen(s) > maxlen)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*v_r = v;
	return 0;
}

int
web_parse_id(const char *s, int64_t *id_r)
{
	int64_t v;

	if (parse_digits(s, 16, &v) == -1 || v <= 0 || v > ((int64_t)1 << 53))
		return -1;
	*id_r = v;
	return 0;
}

int
web_parse_count(const char *s, long max, long *v_r)
{
	int64_t v;

	if (parse_digits(s, 9, &v) == -1 || v > max)
		return -1;
	*v_r = (long)v;
	return 0;
}

int
web_json_body(const char *buf, size_t len, json_t **obj_r, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j;

	*obj_r = NULL;
	if (buf == NULL || len == 0) {
		snprintf(err, errlen, "the request needs a JSON object body");
		return -1;
	}
	if (len > WEB_BODY_MAX) {
		snprintf(err, errlen, "the body is larger than %d bytes", WEB_BODY_MAX);
		return -1;
	}
	if ((j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, errlen, "bad JSON at line %d column %d: %s", je.line, je.column, je.text);
		return -1;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "the body must be a JSON object");
		return -1;
	}
	*obj_r = j;
	return 0;
}

int
web_body_list_entry(json_t *obj, const char **kind_r, const char **pattern_r, char *err, size_t errlen)
{
	json_t *kind = json_object_get(obj, "kind"), *pattern = json_object_get(obj, "pattern");
	const char *k, *p;

	if (!json_is_string(kind) || !json_is_string(pattern)) {
		snprintf(err, errlen, "expected {\"kind\": \"allow\" or \"block\", \"pattern\": \"...\"}");
		return -1;
	}
	k = json_string_value(kind);
	p = json_string_value(pattern);
	if (strcmp(k, "allow") != 0 && strcmp(k, "block") != 0) {
		snprintf(err, errlen, "kind must be allow or block");
		return -1;
	}
	/* The same bounds as popgate list add; a NUL inside would cut the pattern short. */
	if (p[0] == '\0' || json_string_length(pattern) > 320 || strlen(p) != json_string_length(pattern)) {
		snprintf(err, errlen, "a pattern is 1 to 320 characters");
		return -1;
	}
	for (const char *c = p; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '/') {
			snprintf(err, errlen, "a pattern holds no control characters and no '/'");
			return -1;
		}
	}
	*kind_r = k;
	*pattern_r = p;
	return 0;
}

int
web_body_setting(json_t *obj, char *buf, size_t size, int *null_r, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, "value");
	int n;

	*null_r = 0;
	if (v == NULL) {
		snprintf(err, errlen, "expected {\"value\": ...}");
		return -1;
	}
	if (json_is_null(v)) {
		*null_r = 1;
		buf[0] = '\0';
		return 0;
	}
	if (json_is_string(v)) {
		if (json_string_length(v) >= size || strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(err, errlen, "the value is too long");
			return -1;
		}
		memcpy(buf, json_string_value(v), json_string_length(v) + 1);
		return 0;
	}
	if (json_is_integer(v))
		n = snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		n = snprintf(buf, size, "%.15g", json_real_value(v));
	else {
		snprintf(err, errlen, "the value must be a string, a number or null");
		return -1;
	}
	if (n < 0 || (size_t)n >= size) {
		snprintf(err, errlen, "the value is too long");
		return -1;
	}
	return 0;
}

char *
web_token_new(void)
{
	unsigned char raw[32];
	unsigned char b64[64];
	char *out;
	int n, j = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	n = EVP_EncodeBlock(b64, raw, sizeof(raw));
	if (n <= 0 || (out = malloc(strlen(WEB_TOKEN_PREFIX) + (size_t)n + 1)) == NULL)
		return NULL;
	strcpy(out, WEB_TOKEN_PREFIX);
	j = (int)strlen(out);
	for (int i = 0; i < n; i++) {
		unsigned char c = b64[i];
		if (c == '=')
			break;
		out[j++] = c == '+' ? '-' : c == '/' ? '_' : (char)c;
	}
	out[j] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return out;
}

int
web_token_hash(const char *token, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
web_cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = header;

	if (header == NULL || outlen == 0)
		return 0;
	while (*p != '\0') {
		const char *end;
		size_t vlen;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			vlen = (size_t)(end - p);
			while (vlen > 0 && (p[vlen - 1] == ' ' || p[vlen - 1] == '\t'))
				vlen--;
			if (vlen == 0 || vlen >= outlen)
				return 0;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return 1;
		}
		p = end;
	}
	return 0;
}

int
web_session_cookie(const char *value, char *buf, size_t len)
{
	int n;

	/* No Secure attribute: the listener speaks plain HTTP (on loopback or behind a TLS proxy). */
	if (value != NULL)
		n = snprintf(buf, len, "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d",
		    WEB_SESSION_COOKIE, value, WEB_SESSION_TTL);
	else
		n = snprintf(buf, len, "%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", WEB_SESSION_COOKIE);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
web_csrf_ok(const char *expected, const char *given)
{
	size_t n;

	if (expected == NULL || given == NULL || (n = strlen(expected)) == 0 || strlen(given) != n)
		return 0;
	return CRYPTO_memcmp(expected, given, n) == 0;
}

int
web_static_name(const char *url, char *name, size_t namelen, const char **ctype_r)
{
	static const struct {
		const char *ext;
		const char *ctype;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
	};
	const char *n, *dot;
	size_t len;

	if (strcmp(url, "/") == 0)
		n = "index.html";
	else if (strncmp(url, "/static/", 8) == 0)
		n = url + 8;
	else
		return 0;
	len = strlen(n);
	if (len == 0 || len > 64 || len >= namelen || (dot = strchr(n, '.')) == NULL || dot == n)
		return -1;
	for (const char *c = n; c < dot; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return -1;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(dot, types[i].ext) == 0) {
			memcpy(name, n, len + 1);
			*ctype_r = types[i].ctype;
			return 1;
		}
	}
	return -1;
}
