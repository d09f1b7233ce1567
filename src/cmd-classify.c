/*
 * cmd-classify: popgate classify -- prints the verdict on message files.
 */
#include "bayes.h"
#include "cmd.h"
#include "cmd-batch.h"
#include "resolver.h"
#include "rules.h"
#include "store.h"
#include "tokenize.h"
#include "verdict.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char classify_usage[] =
    "usage: popgate classify [-c FILE] [--why] [--network] [--files-from LIST] FILE...\n"
    "Prints one line per message FILE: PATH<TAB>ham|unsure|spam<TAB>SCORE, the\n"
    "score being the spam probability in [0,1]. --why adds a fourth column, the\n"
    "reasons as JSON (strongest tokens and rules). The sender lists and the Bayes\n"
    "classifier are always consulted; --network also asks the configured network\n"
    "rules (DNSBL and URIBL through the [dns] resolver, spamd, rspamd) as the\n"
    "daemon does.\n";

struct result {
	enum verdict_class cls;
	double score;
	char *reasons;
	int failed;
};

struct classify {
	struct cmd_files files;
	struct store *st;
	struct bayes *b;
	struct verdict_config vc;
	struct rules_lists *lists;
	struct tokset *ts[8];
	struct result *res;
	int preloaded, why, ready, network;
	struct resolver *resolver;
};

static void
classify_one(size_t i, void *ctx, unsigned worker)
{
	struct classify *c = ctx;
	const char *path = c->files.path[i], *error;
	struct tokset *ts = c->ts[worker];
	struct tokenize_info info;
	struct bayes_result br;
	struct rules_hits hits;
	struct result *r = &c->res[i];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(&info, 0, sizeof(info));
	memset(&hits, 0, sizeof(hits));
	tokenize_set_clear(ts);
	r->failed = 1;
	if (fd == -1) {
		fprintf(stderr, "popgate: %s: %s\n", path, strerror(errno));
		return;
	}
	if (tokenize_fd(ts, &info, fd, &error) == -1) {
		fprintf(stderr, "popgate: %s: %s\n", path, error);
		goto out;
	}
	if (c->ready && bayes_score(c->b, c->preloaded ? NULL : store_db(c->st), ts, &c->vc.bayes, &br,
	    &error) == -1) {
		fprintf(stderr, "popgate: %s: %s\n", path, error);
		goto out;
	}
	rules_lists_check(c->lists, info.from, &hits);
	if (c->network && !hits.allow && !hits.block) {
		struct stat sb;

		rules_network(&c->vc.rules, c->resolver, &info, &hits);
		if (fstat(fd, &sb) == 0)
			rules_engines(&c->vc.rules, fd, (int64_t)sb.st_size, &hits);
	}
	if (c->why) {
		struct verdict v;

		if (verdict_decide(&c->vc, c->ready ? &br : NULL, &hits, &v) == -1)
			goto out;
		r->cls = v.cls;
		r->score = v.score;
		r->reasons = v.reasons;
	} else
		r->cls = verdict_classify(&c->vc, c->ready ? &br : NULL, &hits, &r->score);
	r->failed = 0;
out:
	close(fd);
	tokenize_info_clear(&info);
}

int
cmd_classify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "why", no_argument, NULL, 'w' },
		{ "network", no_argument, NULL, 'n' },
		{ "files-from", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct classify c;
	const char *path = NULL, *error;
	struct config *cf = NULL;
	int ch, rc = 1, loaded = 0;
	unsigned workers = 1;
	size_t failed = 0;

	memset(&c, 0, sizeof(c));
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'w': c.why = 1; break;
		case 'n': c.network = 1; break;
		case 'f':
			if (cmd_files_from(&c.files, optarg) == -1)
				goto out;
			break;
		case 'h': fputs(classify_usage, stdout); cmd_files_clear(&c.files); return 0;
		default: fputs(classify_usage, stderr); cmd_files_clear(&c.files); return 2;
		}
	}
	for (; optind < argc; optind++)
		cmd_files_add(&c.files, argv[optind]);
	if (c.files.n == 0) {
		fputs(classify_usage, stderr);
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (c.st = cmd_open_store(cf)) == NULL)
		goto out;
	if (verdict_config_load(store_db(c.st), &c.vc, &error) == -1 ||
	    rules_lists_load(c.st, &c.lists, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	loaded = 1;
	if (c.network && (c.vc.rules.ndnsbl > 0 || c.vc.rules.nuribl > 0) &&
	    resolver_new(cf, &c.resolver, &error) == -1) {
		fprintf(stderr, "popgate: resolver: %s\n", error);
		goto out;
	}
	c.b = bayes_new();
	workers = cmd_pool_workers(c.files.n);
	/* Many files: load every token once and score from memory in parallel. */
	c.preloaded = workers > 1;
	if ((c.preloaded ? bayes_preload(c.b, store_db(c.st), &error) :
	    bayes_refresh(c.b, store_db(c.st), &error)) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	c.ready = verdict_bayes_ready(&c.vc, bayes_nspam(c.b), bayes_nham(c.b));
	if (!c.ready)
		fprintf(stderr, "popgate: the filter is not trained yet (it needs %u spam and %u ham): "
		    "Bayes abstains\n", c.vc.min_training, c.vc.min_training);
	if ((c.res = calloc(c.files.n, sizeof(*c.res))) == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		goto out;
	}
	for (unsigned k = 0; k < workers; k++)
		c.ts[k] = tokenize_set_new(0);
	cmd_pool_run(c.files.n, workers, classify_one, &c);
	for (size_t i = 0; i < c.files.n; i++) {
		struct result *r = &c.res[i];

		if (r->failed) {
			failed++;
			continue;
		}
		/* 10 digits, all 17 where the ranking lives beyond them */
		printf(1.0 - r->score < 1e-8 ? "%s\t%s\t%.17g" : "%s\t%s\t%.10g", c.files.path[i],
		    verdict_class_name(r->cls), r->score);
		if (r->reasons != NULL)
			printf("\t%s", r->reasons);
		putchar('\n');
		free(r->reasons);
	}
	for (unsigned k = 0; k < workers; k++)
		tokenize_set_free(&c.ts[k]);
	rc = failed == 0 ? 0 : 1;
out:
	free(c.res);
	if (loaded)
		verdict_config_clear(&c.vc);
	rules_lists_free(&c.lists);
	resolver_free(&c.resolver);
	bayes_free(&c.b);
	store_close(&c.st);
	config_free(&cf);
	cmd_files_clear(&c.files);
	return rc;
}
