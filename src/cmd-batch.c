/*
 * cmd-batch.c: file lists, worker pool and progress bar (see cmd-batch.h).
 */
#include "cmd-batch.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
cmd_files_add(struct cmd_files *f, const char *path)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		if ((f->path = realloc(f->path, f->cap * sizeof(*f->path))) == NULL)
			fatal("out of memory");
	}
	if ((f->path[f->n++] = strdup(path)) == NULL)
		fatal("out of memory");
}

int
cmd_files_from(struct cmd_files *f, const char *list)
{
	FILE *fp = strcmp(list, "-") == 0 ? stdin : fopen(list, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL) {
		fprintf(stderr, "popgate: %s: %s\n", list, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n > 0)
			cmd_files_add(f, line);
	}
	free(line);
	if (fp != stdin)
		fclose(fp);
	return 0;
}

void
cmd_files_clear(struct cmd_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->path[i]);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

struct pool {
	atomic_size_t next;
	size_t n;
	cmd_pool_fn *fn;
	void *ctx;
};

struct pool_worker {
	struct pool *pool;
	unsigned id;
};

static void *
pool_main(void *arg)
{
	struct pool_worker *w = arg;
	struct pool *p = w->pool;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		p->fn(i, p->ctx, w->id);
	return NULL;
}

void
cmd_pool_run(size_t n, unsigned workers, cmd_pool_fn *fn, void *ctx)
{
	struct pool p = { .n = n, .fn = fn, .ctx = ctx };
	pthread_t tid[8];
	struct pool_worker w[8];
	unsigned started = 0;

	atomic_init(&p.next, 0);
	if (workers > 8)
		workers = 8;
	for (unsigned k = 1; k < workers; k++) {
		w[k].pool = &p;
		w[k].id = k;
		if (pthread_create(&tid[k], NULL, pool_main, &w[k]) != 0)
			break;
		started = k;
	}
	w[0].pool = &p;
	w[0].id = 0;
	pool_main(&w[0]);
	for (unsigned k = 1; k <= started; k++)
		pthread_join(tid[k], NULL);
}

unsigned
cmd_pool_workers(size_t n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 64 || cpus < 1)
		return 1;
	return cpus > 8 ? 8 : (unsigned)cpus;
}

double
cmd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
draw(struct cmd_progress *p, size_t done)
{
	double el = cmd_now() - p->start;
	size_t width = 30, fill = p->total ? done * width / p->total : width;
	char bar[31];

	memset(bar, '#', fill);
	memset(bar + fill, '.', width - fill);
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu  %.0f msg/s ", bar, done, p->total, el > 0 ? (double)done / el : 0.0);
	fflush(stderr);
}

void
cmd_progress_start(struct cmd_progress *p, int on, size_t total)
{
	p->on = on;
	p->total = total;
	p->start = p->last = cmd_now();
}

void
cmd_progress_update(struct cmd_progress *p, size_t done)
{
	double now;

	if (!p->on)
		return;
	now = cmd_now();
	if (now - p->last < 0.1)
		return;
	p->last = now;
	draw(p, done);
}

void
cmd_progress_end(struct cmd_progress *p, size_t done)
{
	if (!p->on)
		return;
	draw(p, done);
	fputc('\n', stderr);
}
