/*
 * main: subcommand dispatch. Each subcommand lives in its own cmd-*.c file
 * and is listed in the table below.
 */
#include "cmd.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const struct cmd_entry commands[] = {
	{ "serve", cmd_serve, "run the daemon in the foreground" },
	{ "check-config", cmd_check_config, "validate a configuration file" },
	{ "user", cmd_user, "add, list or delete local users" },
	{ "account", cmd_account, "add, list, set, test or delete upstream POP3 accounts" },
	{ "list", cmd_list, "manage the sender allow and block lists" },
	{ "resolve", cmd_resolve, "look names up through the [dns] settings (DoH)" },
	{ "train", cmd_train, "train the spam filter with message files" },
	{ "classify", cmd_classify, "print the spam filter's verdict on message files" },
	{ "quarantine", cmd_quarantine, "list, show, release, confirm or delete quarantined spam" },
	{ "filter", cmd_filter, "spam filter settings and per-account spam policy" },
	{ "trust", cmd_trust, "fetch a server's certificates; manage custom trust stores" },
	{ "token", cmd_token, "add, list or delete API tokens (JSON API on [web] listen)" },
	{ NULL, NULL, NULL }
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: popgate COMMAND [OPTIONS]\n"
	    "\n"
	    "popgate is a spam-filtering POP3 gateway. Commands:\n");
	for (const struct cmd_entry *c = commands; c->name != NULL; c++)
		fprintf(fp, "  %-14s %s\n", c->name, c->help);
	fprintf(fp,
	    "\n"
	    "Every command takes -c FILE (the configuration; without it, the embedded\n"
	    "defaults: state in ./var, POP3 on 127.0.0.1:1110 and 127.0.0.1:1995).\n"
	    "'popgate COMMAND --help' describes one command. See popgate(8).\n");
}

int
main(int argc, char **argv)
{
	/* The database, keys and spool hold secrets: nothing is for others to read. */
	umask(077);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("popgate %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (const struct cmd_entry *c = commands; c->name != NULL; c++) {
		if (strcmp(argv[1], c->name) == 0)
			return c->fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "popgate: unknown command \"%s\"; try popgate --help\n", argv[1]);
	return 2;
}
