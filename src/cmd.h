/*
 * cmd: the subcommands behind main(). Each cmd_* gets argv with argv[0] the
 * subcommand name and returns the process exit code (0 ok, 1 failure,
 * 2 usage error). Shared helpers for option parsing and opening the
 * configuration and the store live in cmd-common.c.
 */
#ifndef POPGATE_CMD_H
#define POPGATE_CMD_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/x509.h>

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
int cmd_trust(int argc, char **argv);
int cmd_token(int argc, char **argv);
/* account set / account test (cmd-account-trust.c), reached through cmd_account. */
int cmd_account_set(int argc, char **argv);
int cmd_account_test(int argc, char **argv);

/* Loads -c FILE (or the defaults) or prints the error and returns NULL. */
/*
 * For subcommands whose only option is -c FILE (and --help): parses them
 * and the verb after them (optind then points past it). -1 to go on, else
 * the exit status (0 after --help, 2 after a usage error).
 */
int cmd_verb_args(int argc, char **argv, const char *usage, const char **path_r, const char **verb_r);
struct config *cmd_load_config(const char *path);
/* Creates the state dir and opens the store in it; prints errors. */
struct store *cmd_open_store(const struct config *cf);
/* Reads a password: first line of FILE, or of stdin when FILE is "-". */
char *cmd_read_password(const char *file);
/* Whether name is a valid user or account name (letters, digits, . _ - @ +). */
int cmd_valid_name(const char *name);

/* ---- certificates for people and JSON (cmd-trust.c) ---- */
struct resolver;
/* 2 expired, 1 expires within 30 days (buf says so), 0 fine. */
int cmd_trust_expiry(int64_t not_after, char *buf, size_t size);
void cmd_trust_print_cert(X509 *x, int index, const char *indent);
void cmd_trust_print_chain(const char *pem, size_t len, const char *indent);
json_t *cmd_trust_cert_json(X509 *x);
/* A JSON string of s, sanitised when it is not UTF-8; null for NULL. */
json_t *cmd_json_str(const char *s);
json_t *cmd_trust_chain_json(const char *pem, size_t len);
/* Routes net's lookups through the DoH resolver when [dns] mode = doh. */
int cmd_use_resolver(const struct config *cf, struct resolver **r_r);
void cmd_drop_resolver(struct resolver **r);

#endif
