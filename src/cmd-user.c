#include "cmd.h"
#include "crypto.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char user_usage[] =
    "usage: popgate user add NAME [--admin] --password-file FILE [-c FILE]\n"
    "       popgate user list [-c FILE]\n"
    "       popgate user del NAME [-c FILE]\n"
    "Local users log in to popgate's POP3 service and dashboard. --password-file -\n"
    "reads the password from standard input. Passwords are stored as scrypt hashes.\n";

/* Names go into POP3 USER lines and URLs: keep them plain. */
static int
valid_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 64)
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-' || *p == '@' || *p == '+'))
			return 0;
	}
	return 1;
}

int
cmd_valid_name(const char *name)
{
	return valid_name(name);
}

static int
print_user(const struct store_user *u, void *ctx)
{
	printf("%s%s\n", u->name, u->admin ? "\tadmin" : "");
	return 0;
}

int
cmd_user(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "admin", no_argument, NULL, 'a' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *pwfile = NULL, *verb, *error;
	struct config *cf = NULL;
	struct store *st = NULL;
	char *password = NULL, *hash = NULL;
	int ch, admin = 0, rc = 1, r;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'a': admin = 1; break;
		case 'p': pwfile = optarg; break;
		case 'h': fputs(user_usage, stdout); return 0;
		default: fputs(user_usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(user_usage, stderr);
		return 2;
	}
	verb = argv[optind++];
	if ((strcmp(verb, "add") == 0 || strcmp(verb, "del") == 0) && optind != argc - 1) {
		fputs(user_usage, stderr);
		return 2;
	}
	if (strcmp(verb, "add") == 0) {
		if (pwfile == NULL) {
			fprintf(stderr, "popgate: user add needs --password-file FILE (- for stdin)\n");
			return 2;
		}
		if (!valid_name(argv[optind])) {
			fprintf(stderr, "popgate: user name \"%s\" must be 1-64 letters, digits or . _ - @ +\n",
			    argv[optind]);
			return 2;
		}
	} else if (strcmp(verb, "list") != 0 && strcmp(verb, "del") != 0) {
		fprintf(stderr, "popgate: unknown user command \"%s\"\n%s", verb, user_usage);
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if (strcmp(verb, "add") == 0) {
		if ((password = cmd_read_password(pwfile)) == NULL)
			goto out;
		if ((hash = crypto_password_hash(password)) == NULL) {
			fprintf(stderr, "popgate: cannot hash the password\n");
			goto out;
		}
		if (store_user_add(st, argv[optind], hash, admin, &error) == -1) {
			fprintf(stderr, "popgate: %s\n", error);
			goto out;
		}
		printf("user %s added\n", argv[optind]);
	} else if (strcmp(verb, "del") == 0) {
		if ((r = store_user_del(st, argv[optind], &error)) <= 0) {
			fprintf(stderr, "popgate: %s\n", r == 0 ? "no such user" : error);
			goto out;
		}
		printf("user %s deleted\n", argv[optind]);
	} else if (store_user_foreach(st, print_user, NULL, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	rc = 0;
out:
	if (password != NULL) {
		crypto_wipe(password, strlen(password));
		free(password);
	}
	free(hash);
	store_close(&st);
	config_free(&cf);
	return rc;
}
