/*
 * cmd-train: popgate train -- teaches the Bayes classifier from message files.
 */
#include "bayes.h"
#include "cmd.h"
#include "cmd-batch.h"
#include "store.h"
#include "tokenize.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char train_usage[] =
    "usage: popgate train [-c FILE] --spam|--ham [--untrain] [--progress] [--files-from LIST] FILE...\n"
    "Counts each message FILE (RFC 822, as fetched) once as spam or as ham.\n"
    "  --untrain          take earlier training of these files back\n"
    "  --files-from LIST  read more file names from LIST, one per line (- for stdin)\n"
    "  --progress         show a progress bar (the default on a terminal)\n"
    "Training the same file twice counts it twice.\n";

/* Pending messages are written to the database in batches of this size. */
#define FLUSH_EVERY 5000

struct train {
	struct cmd_files files;
	struct store *st;
	struct bayes *b;
	struct tokset *ts[8];
	pthread_mutex_t lock;
	int spam, delta, failed_db;
	size_t done, failed;
	struct cmd_progress progress;
};

static void
train_one(size_t i, void *ctx, unsigned worker)
{
	struct train *t = ctx;
	const char *path = t->files.path[i], *error;
	struct tokset *ts = t->ts[worker];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok = 0;

	tokenize_set_clear(ts);
	if (fd == -1)
		fprintf(stderr, "popgate: %s: %s\n", path, strerror(errno));
	else if (tokenize_fd(ts, NULL, fd, &error) == -1)
		fprintf(stderr, "popgate: %s: %s\n", path, error);
	else
		ok = 1;
	if (fd != -1)
		close(fd);
	pthread_mutex_lock(&t->lock);
	if (ok) {
		bayes_learn(t->b, ts, t->spam, t->delta);
		if (bayes_pending(t->b) >= FLUSH_EVERY && !t->failed_db &&
		    bayes_flush(t->b, store_db(t->st), &error) == -1) {
			fprintf(stderr, "popgate: cannot write the token database: %s\n", error);
			t->failed_db = 1;
		}
	} else
		t->failed++;
	t->done++;
	cmd_progress_update(&t->progress, t->done);
	pthread_mutex_unlock(&t->lock);
}

int
cmd_train(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "spam", no_argument, NULL, 's' },
		{ "ham", no_argument, NULL, 'n' },
		{ "untrain", no_argument, NULL, 'u' },
		{ "progress", no_argument, NULL, 'p' },
		{ "files-from", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct train t;
	const char *path = NULL, *error;
	struct config *cf = NULL;
	int ch, rc = 1, cls = -1, progress = isatty(2);
	unsigned workers;
	double t0;

	memset(&t, 0, sizeof(t));
	t.delta = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 's': cls = 1; break;
		case 'n': cls = 0; break;
		case 'u': t.delta = -1; break;
		case 'p': progress = 1; break;
		case 'f':
			if (cmd_files_from(&t.files, optarg) == -1)
				goto out;
			break;
		case 'h': fputs(train_usage, stdout); cmd_files_clear(&t.files); return 0;
		default: fputs(train_usage, stderr); cmd_files_clear(&t.files); return 2;
		}
	}
	for (; optind < argc; optind++)
		cmd_files_add(&t.files, argv[optind]);
	if (cls == -1 || t.files.n == 0) {
		fputs(train_usage, stderr);
		cmd_files_clear(&t.files);
		return 2;
	}
	t.spam = cls;
	if ((cf = cmd_load_config(path)) == NULL || (t.st = cmd_open_store(cf)) == NULL)
		goto out;
	t.b = bayes_new();
	if (bayes_refresh(t.b, store_db(t.st), &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	pthread_mutex_init(&t.lock, NULL);
	workers = cmd_pool_workers(t.files.n);
	for (unsigned k = 0; k < workers; k++)
		t.ts[k] = tokenize_set_new(0);
	t0 = cmd_now();
	cmd_progress_start(&t.progress, progress, t.files.n);
	cmd_pool_run(t.files.n, workers, train_one, &t);
	cmd_progress_end(&t.progress, t.done);
	if (!t.failed_db && bayes_flush(t.b, store_db(t.st), &error) == -1) {
		fprintf(stderr, "popgate: cannot write the token database: %s\n", error);
		t.failed_db = 1;
	}
	for (unsigned k = 0; k < workers; k++)
		tokenize_set_free(&t.ts[k]);
	pthread_mutex_destroy(&t.lock);
	if (t.failed_db)
		goto out;
	fprintf(stderr, "popgate: %s %zu message%s as %s in %.2f s; the database holds %llu spam, %llu ham\n",
	    t.delta > 0 ? "trained" : "untrained", t.done - t.failed, t.done - t.failed == 1 ? "" : "s",
	    cls ? "spam" : "ham", cmd_now() - t0, (unsigned long long)bayes_nspam(t.b),
	    (unsigned long long)bayes_nham(t.b));
	rc = t.failed == 0 ? 0 : 1;
out:
	bayes_free(&t.b);
	store_close(&t.st);
	config_free(&cf);
	cmd_files_clear(&t.files);
	return rc;
}
