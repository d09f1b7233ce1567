/*
 * Fuzz target: what the JSON API parses from a request -- the method and
 * path (routing, path parameters, ids, the dashboard's static file names),
 * the session cookie (the first line read as a Cookie header) and the body
 * (JSON object, list entry, setting value). Input: "METHOD PATH\n" then the
 * body.
 */
#include "web.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	char line[WEB_PATH_MAX + 64], method[16], value[1024], err[300], allow[64], name[80], cookie[128];
	const char *path, *sp, *kind, *pattern, *ctype, *dot;
	struct web_params p;
	json_t *obj;
	size_t n;
	int status, unset;
	int64_t id;
	long count;

	n = nl != NULL ? (size_t)(nl - (const char *)data) : size;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	if ((sp = strchr(line, ' ')) != NULL && (size_t)(sp - line) < sizeof(method)) {
		memcpy(method, line, (size_t)(sp - line));
		method[sp - line] = '\0';
		path = sp + 1;
	} else {
		strcpy(method, "GET");
		path = line;
	}
	if (web_route_find(method, path, &p, &status, allow, sizeof(allow)) != NULL) {
		for (size_t i = 0; i < p.n; i++) {
			if (strlen(p.v[i]) >= WEB_PARAM_LEN)
				abort();
			(void)web_parse_id(p.v[i], &id);
			(void)web_parse_count(p.v[i], 500, &count);
		}
	} else if (status != 404 && status != 405)
		abort();
	/* A static name is one plain file name: no slash, one dot, not first. */
	if (web_static_name(path, name, sizeof(name), &ctype) == 1 && (strchr(name, '/') != NULL ||
	    (dot = strchr(name, '.')) == NULL || dot == name || strchr(dot + 1, '.') != NULL || ctype == NULL))
		abort();
	if (web_cookie_get(line, WEB_SESSION_COOKIE, cookie, sizeof(cookie)) == 1 &&
	    (cookie[0] == '\0' || strchr(cookie, ';') != NULL || strlen(cookie) >= sizeof(cookie)))
		abort();
	if (nl == NULL)
		return 0;
	n = size - (size_t)(nl + 1 - (const char *)data);
	if (web_json_body(nl + 1, n, &obj, err, sizeof(err)) == 0) {
		if (web_body_list_entry(obj, &kind, &pattern, err, sizeof(err)) == 0 &&
		    (strlen(pattern) == 0 || strlen(pattern) > 320))
			abort();
		if (web_body_setting(obj, value, sizeof(value), &unset, err, sizeof(err)) == 0 &&
		    strlen(value) >= sizeof(value))
			abort();
		json_decref(obj);
	}
	return 0;
}
