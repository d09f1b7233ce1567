/*
 * cmd-quarantine: popgate quarantine -- what a person does with spam that
 * was held back: look at it, release it, confirm it, delete it.
 */
#include "cmd.h"
#include "filter.h"
#include "store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char quarantine_usage[] =
    "usage: popgate quarantine list [-c FILE] [--account OWNER/NAME]\n"
    "       popgate quarantine show [-c FILE] ID\n"
    "       popgate quarantine release|confirm|delete [-c FILE] ID...\n"
    "       popgate quarantine expire [-c FILE]\n"
    "list prints ID, account, date, score, sender and subject, one message a line.\n"
    "release puts a message back in the client's view (same UIDL) and trains it as\n"
    "ham; confirm trains it as spam; delete removes it (upstream too only if the\n"
    "account's spam_delete_upstream is set); expire deletes what is older than the\n"
    "account's quarantine_days.\n";

struct list_ctx {
	const char *account;    /* filter, or NULL */
	struct store *st;
	size_t count;
	int failed;
};

/* Tabs and line breaks would break the columns. */
static void
put_field(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		putchar(*s == '\t' || *s == '\r' || *s == '\n' ? ' ' : *s);
}

static int
list_message(const struct store_message *m, void *ctx)
{
	struct list_ctx *l = ctx;
	const char *name = ctx == NULL ? "" : l->account;

	printf("%lld\t%s\t", (long long)m->id, name);
	put_field(m->date);
	printf("\t%.4f\t", m->score);
	put_field(m->from_addr);
	putchar('\t');
	put_field(m->subject);
	putchar('\n');
	l->count++;
	return 0;
}

static int
list_account(const struct store_account *a, void *ctx)
{
	struct list_ctx *l = ctx;
	char name[300];
	struct list_ctx inner = *l;
	const char *error;

	snprintf(name, sizeof(name), "%s/%s", a->owner, a->name);
	if (l->account != NULL && strcmp(l->account, name) != 0)
		return 0;
	inner.account = name;
	inner.count = 0;
	if (store_message_foreach(l->st, a->id, MSG_SPAM, list_message, &inner, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		l->failed = 1;
		return -1;
	}
	l->count += inner.count;
	return 0;
}

static int
parse_id(const char *s, int64_t *id_r)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0) {
		fprintf(stderr, "popgate: \"%s\" is not a message id\n", s);
		return -1;
	}
	*id_r = v;
	return 0;
}

static int
show(struct store *st, int64_t id)
{
	struct store_message m;
	struct store_account a;
	struct store_body *body;
	const char *error;
	json_t *reasons;
	char buf[4096];
	ssize_t n;
	int r, end = 0;
	size_t shown = 0;

	if ((r = store_message_get(st, id, &m, &error)) != 1) {
		fprintf(stderr, "popgate: %s\n", r == 0 ? "no such message" : error);
		return 1;
	}
	memset(&a, 0, sizeof(a));
	store_account_get_id(st, m.account_id, &a, &error);
	printf("id: %lld\naccount: %s/%s\nuidl: %s\nstate: %s\nverdict: %s\nscore: %.6f\nfrom: %s\n"
	    "subject: %s\ndate: %s\nsize: %lld\n", (long long)m.id, a.owner != NULL ? a.owner : "?",
	    a.name != NULL ? a.name : "?", m.uidl, store_msg_state_name(m.state), m.verdict != NULL ? m.verdict : "",
	    m.score, m.from_addr, m.subject, m.date, (long long)m.size);
	store_account_clear(&a);
	if (m.reasons != NULL && (reasons = json_loads(m.reasons, 0, NULL)) != NULL) {
		char *pretty = json_dumps(reasons, JSON_INDENT(2));

		printf("reasons: %s\n", pretty != NULL ? pretty : m.reasons);
		free(pretty);
		json_decref(reasons);
	}
	/* the header block, as received (bounded) */
	if (m.has_body && store_body_open(st, id, &body, &error) == 0) {
		printf("\n");
		while (!end && shown < 65536 && (n = store_body_read(body, buf, sizeof(buf))) > 0) {
			char *blank = NULL;

			for (ssize_t i = 0; i + 1 < n; i++) {
				if (buf[i] == '\n' && (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < n &&
				    buf[i + 2] == '\n'))) {
					blank = buf + i + 1;
					break;
				}
			}
			if (blank != NULL) {
				n = blank - buf;
				end = 1;
			}
			fwrite(buf, 1, (size_t)n, stdout);
			shown += (size_t)n;
		}
		store_body_close(&body);
	}
	store_message_clear(&m);
	return 0;
}

int
cmd_quarantine(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "account", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *account = NULL, *verb, *error;
	struct config *cf = NULL;
	struct store *st = NULL;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:a:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'a': account = optarg; break;
		case 'h': fputs(quarantine_usage, stdout); return 0;
		default: fputs(quarantine_usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(quarantine_usage, stderr);
		return 2;
	}
	verb = argv[optind++];
	if (strcmp(verb, "list") == 0 || strcmp(verb, "expire") == 0) {
		if (optind != argc) {
			fputs(quarantine_usage, stderr);
			return 2;
		}
	} else if (strcmp(verb, "show") == 0) {
		if (optind != argc - 1) {
			fputs(quarantine_usage, stderr);
			return 2;
		}
	} else if (strcmp(verb, "release") == 0 || strcmp(verb, "confirm") == 0 || strcmp(verb, "delete") == 0) {
		if (optind >= argc) {
			fputs(quarantine_usage, stderr);
			return 2;
		}
	} else {
		fprintf(stderr, "popgate: unknown quarantine command \"%s\"\n%s", verb, quarantine_usage);
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if (strcmp(verb, "list") == 0) {
		struct list_ctx l = { account, st, 0, 0 };

		if (store_account_foreach(st, NULL, list_account, &l, &error) == -1 && !l.failed) {
			fprintf(stderr, "popgate: %s\n", error);
			goto out;
		}
		rc = l.failed;
	} else if (strcmp(verb, "show") == 0) {
		int64_t id;

		if (parse_id(argv[optind], &id) == -1) {
			rc = 2;
			goto out;
		}
		rc = show(st, id);
	} else if (strcmp(verb, "expire") == 0) {
		unsigned n;

		if (filter_quarantine_expire(st, (int64_t)time(NULL), &n, &error) == -1) {
			fprintf(stderr, "popgate: %s\n", error);
			goto out;
		}
		printf("%u expired message%s deleted\n", n, n == 1 ? "" : "s");
		rc = 0;
	} else {
		rc = 0;
		for (; optind < argc; optind++) {
			int64_t id;
			int r;

			if (parse_id(argv[optind], &id) == -1) {
				rc = 1;
				continue;
			}
			if (strcmp(verb, "release") == 0)
				r = filter_quarantine_release(st, id, &error);
			else if (strcmp(verb, "confirm") == 0)
				r = filter_quarantine_confirm(st, id, &error);
			else
				r = filter_quarantine_delete(st, id, &error);
			if (r == 1)
				printf("%lld %s\n", (long long)id, strcmp(verb, "release") == 0 ? "released, trained as ham" :
				    strcmp(verb, "confirm") == 0 ? "confirmed, trained as spam" : "deleted");
			else {
				fprintf(stderr, "popgate: %lld: %s\n", (long long)id,
				    r == 0 ? "no such message in the quarantine" : error);
				rc = 1;
			}
		}
	}
out:
	store_close(&st);
	config_free(&cf);
	return rc;
}
