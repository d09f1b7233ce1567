/*
 * cmd-token: popgate token -- the bearer tokens of the JSON API. A token
 * is shown once, when it is made; only its SHA-256 is stored.
 */
#include "cmd.h"
#include "store.h"
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

static const char token_usage[] =
    "usage: popgate token add USER NAME [-c FILE]\n"
    "       popgate token list [USER] [-c FILE]\n"
    "       popgate token del ID [-c FILE]\n"
    "add prints a new API token for USER once (keep it: only its hash is stored);\n"
    "NAME says what it is for. Requests send it as 'Authorization: Bearer TOKEN'.\n"
    "list prints ID, user, name, created and last used; del revokes a token.\n";

static void
put_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
		fputs("never", stdout);
		return;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fputs(buf, stdout);
}

static int
print_token(const struct store_api_token *t, void *ctx)
{
	(void)ctx;
	printf("%lld\t%s\t%s\t", (long long)t->id, t->user, t->name);
	put_time(t->created);
	putchar('\t');
	put_time(t->last_used);
	putchar('\n');
	return 0;
}

static int
valid_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 100)
		return 0;
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	}
	return 1;
}

int
cmd_token(int argc, char **argv)
{
	const char *path, *verb, *error;
	struct config *cf = NULL;
	struct store *st = NULL;
	int rc = 1, r;

	if ((rc = cmd_verb_args(argc, argv, token_usage, &path, &verb)) != -1)
		return rc;
	rc = 1;
	if ((strcmp(verb, "add") == 0 && argc - optind != 2) || (strcmp(verb, "list") == 0 && argc - optind > 1) ||
	    (strcmp(verb, "del") == 0 && argc - optind != 1)) {
		fputs(token_usage, stderr);
		return 2;
	}
	if (strcmp(verb, "add") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "del") != 0) {
		fprintf(stderr, "popgate: unknown token command \"%s\"\n%s", verb, token_usage);
		return 2;
	}
	if (strcmp(verb, "add") == 0 && !valid_label(argv[optind + 1])) {
		fprintf(stderr, "popgate: a token name is 1 to 100 characters, no control characters\n");
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if (strcmp(verb, "add") == 0) {
		struct store_user u;
		char hex[65], *token;
		int64_t id;

		if ((r = store_user_get(st, argv[optind], &u, &error)) != 1) {
			fprintf(stderr, "popgate: %s\n", r == 0 ? "no such user" : error);
			goto out;
		}
		if ((token = web_token_new()) == NULL || web_token_hash(token, hex) == -1) {
			fprintf(stderr, "popgate: cannot make a random token\n");
			free(token);
			store_user_clear(&u);
			goto out;
		}
		if (store_api_token_add(st, u.id, argv[optind + 1], hex, &id, &error) == -1) {
			fprintf(stderr, "popgate: %s\n", error);
			free(token);
			store_user_clear(&u);
			goto out;
		}
		{
			char target[200];

			/* Made outside the API, but a new credential all the same. */
			snprintf(target, sizeof(target), "%lld %s %s", (long long)id, u.name, argv[optind + 1]);
			(void)store_audit_add(st, "(cli)", "token.add", target, "ok", &error);
		}
		printf("%s\n", token);
		fprintf(stderr, "token %lld for %s: shown only now; send it as \"Authorization: Bearer TOKEN\"\n",
		    (long long)id, u.name);
		memset(token, 0, strlen(token));
		free(token);
		store_user_clear(&u);
		rc = 0;
	} else if (strcmp(verb, "list") == 0) {
		if (store_api_token_foreach(st, optind < argc ? argv[optind] : NULL, print_token, NULL, &error) == -1) {
			fprintf(stderr, "popgate: %s\n", error);
			goto out;
		}
		rc = 0;
	} else {
		char *end;
		long long id = strtoll(argv[optind], &end, 10);

		if (*argv[optind] == '\0' || *end != '\0' || id <= 0) {
			fprintf(stderr, "popgate: \"%s\" is not a token id\n", argv[optind]);
			rc = 2;
			goto out;
		}
		if ((r = store_api_token_del(st, id, &error)) != 1) {
			fprintf(stderr, "popgate: %s\n", r == 0 ? "no such token" : error);
			goto out;
		}
		{
			char target[32];

			snprintf(target, sizeof(target), "%lld", id);
			(void)store_audit_add(st, "(cli)", "token.del", target, "ok", &error);
		}
		printf("token %lld deleted\n", id);
		rc = 0;
	}
out:
	store_close(&st);
	config_free(&cf);
	return rc;
}
