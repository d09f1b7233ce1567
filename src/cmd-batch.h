/*
 * cmd-batch: what the train, classify and quarantine subcommands share:
 * the list of message files (arguments and --files-from), a progress bar
 * for terminals, and a small pool of worker threads over that list.
 */
#ifndef POPGATE_CMD_BATCH_H
#define POPGATE_CMD_BATCH_H

#include <stddef.h>

struct cmd_files {
	char **path;
	size_t n, cap;
};

/* Adds path; "-" as a --files-from argument reads one path per line from stdin. */
void cmd_files_add(struct cmd_files *f, const char *path);
int cmd_files_from(struct cmd_files *f, const char *list);
void cmd_files_clear(struct cmd_files *f);

/* Worker threads for n items: fn(i, ctx, worker) for every i < n, any order. */
typedef void cmd_pool_fn(size_t i, void *ctx, unsigned worker);
void cmd_pool_run(size_t n, unsigned workers, cmd_pool_fn *fn, void *ctx);
/* Workers to use: online CPUs, at most 8; 1 for small jobs. */
unsigned cmd_pool_workers(size_t n);

/* A progress bar on stderr; draws at most ten times a second. */
struct cmd_progress {
	int on;
	size_t total;
	double start, last;
};
void cmd_progress_start(struct cmd_progress *p, int on, size_t total);
void cmd_progress_update(struct cmd_progress *p, size_t done);
void cmd_progress_end(struct cmd_progress *p, size_t done);

double cmd_now(void);

#endif
