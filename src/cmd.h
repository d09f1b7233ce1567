/*
 * cmd: the subcommands behind main(). Each cmd_* gets argv with argv[0] the
 * subcommand name and returns the process exit code (0 ok, 1 failure,
 * 2 usage error). Shared helpers for option parsing and opening the
 * configuration and the store live in cmd-common.c.
 */
#ifndef POPGATE_CMD_H
#define POPGATE_CMD_H

#include "config.h"

struct store;

struct cmd_entry {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

int cmd_serve(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_filter(int argc, char **argv);

/* Loads -c FILE (or the defaults) or prints the error and returns NULL. */
struct config *cmd_load_config(const char *path);
/* Creates the state dir and opens the store in it; prints errors. */
struct store *cmd_open_store(const struct config *cf);
/* Reads a password: first line of FILE, or of stdin when FILE is "-". */
char *cmd_read_password(const char *file);
/* Whether name is a valid user or account name (letters, digits, . _ - @ +). */
int cmd_valid_name(const char *name);

#endif
