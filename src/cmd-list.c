#include "cmd.h"
#include "store.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char list_usage[] =
    "usage: popgate list add allow|block PATTERN [-c FILE]\n"
    "       popgate list del allow|block PATTERN [-c FILE]\n"
    "       popgate list list [-c FILE]\n"
    "PATTERN matches the sender address of the From header, case-insensitively:\n"
    "an exact address (bob@example.com), or with * wildcards (*@example.com).\n"
    "Mail from a blocked sender is quarantined; an allowed sender is always ham.\n";

static int
print_entry(const char *kind, const char *pattern, void *ctx)
{
	printf("%s\t%s\n", kind, pattern);
	return 0;
}

int
cmd_list(int argc, char **argv)
{
	const char *path, *verb, *error;
	struct config *cf = NULL;
	struct store *st = NULL;
	int rc = 1, r;

	if ((rc = cmd_verb_args(argc, argv, list_usage, &path, &verb)) != -1)
		return rc;
	rc = 1;
	if (strcmp(verb, "add") == 0 || strcmp(verb, "del") == 0) {
		if (optind != argc - 2 || (strcmp(argv[optind], "allow") != 0 && strcmp(argv[optind], "block") != 0)) {
			fputs(list_usage, stderr);
			return 2;
		}
		if (argv[optind + 1][0] == '\0' || strlen(argv[optind + 1]) > 320) {
			fprintf(stderr, "popgate: a pattern is 1 to 320 characters\n");
			return 2;
		}
	} else if (strcmp(verb, "list") != 0) {
		fprintf(stderr, "popgate: unknown list command \"%s\"\n%s", verb, list_usage);
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if (strcmp(verb, "add") == 0) {
		if (store_list_add(st, argv[optind], argv[optind + 1], &error) == -1) {
			fprintf(stderr, "popgate: %s\n", error);
			goto out;
		}
		printf("%s %s added\n", argv[optind], argv[optind + 1]);
	} else if (strcmp(verb, "del") == 0) {
		if ((r = store_list_del(st, argv[optind], argv[optind + 1], &error)) <= 0) {
			fprintf(stderr, "popgate: %s\n", r == 0 ? "no such entry" : error);
			goto out;
		}
		printf("%s %s deleted\n", argv[optind], argv[optind + 1]);
	} else if (store_list_foreach(st, print_entry, NULL, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	rc = 0;
out:
	store_close(&st);
	config_free(&cf);
	return rc;
}
