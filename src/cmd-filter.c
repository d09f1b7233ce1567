/*
 * cmd-filter: popgate filter -- the filter's settings and per-account spam
 * policy, and what the Bayes database holds.
 */
#include "cmd.h"
#include "filter.h"
#include "store.h"
#include "verdict.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char filter_usage[] =
    "usage: popgate filter show [-c FILE]\n"
    "       popgate filter expire [-c FILE]\n"
    "       popgate filter set KEY VALUE [-c FILE]\n"
    "       popgate filter unset KEY [-c FILE]\n"
    "       popgate filter policy OWNER/NAME [--spam quarantine|tag] [--subject-prefix TEXT]\n"
    "               [--quarantine-days N] [--delete-upstream yes|no] [-c FILE]\n"
    "Settings (unset: the default): ham_cutoff, spam_cutoff, robs, robx, min_dev,\n"
    "max_discriminators, word_exponent, mark_exponent, min_training, token_days,\n"
    "dnsbl_zones, uribl_zones (comma-separated; empty: off), dnsbl_weight, uribl_weight,\n"
    "trusted_networks (CIDR list), dns_timeout_ms. A running daemon picks changes\n"
    "up with the next message. expire forgets the Bayes tokens that only one\n"
    "trained message had and that no training touched for token_days days (365;\n"
    "the daemon does it hourly).\n";


static void
print_zones(const char *key, char *const *zones, size_t n)
{
	printf("%s = ", key);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", zones[i]);
	printf("%s\n", n == 0 ? "(off)" : "");
}

static int
show(struct store *st)
{
	sqlite3 *db = store_db(st);
	struct verdict_config c;
	struct bayes_db_counts bc;
	const char *error;

	if (verdict_config_load(db, &c, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		return 1;
	}
	printf("ham_cutoff = %g\nspam_cutoff = %g\nrobs = %g\nrobx = %g\nmin_dev = %g\n"
	    "max_discriminators = %u\nword_exponent = %g\nmark_exponent = %g\nmin_training = %u\n"
	    "token_days = %u\n",
	    c.bayes.ham_cutoff, c.bayes.spam_cutoff, c.bayes.robs, c.bayes.robx, c.bayes.min_dev,
	    c.bayes.max_discriminators, c.bayes.exponent[TOKENIZE_WORD], c.bayes.exponent[TOKENIZE_MARK],
	    c.min_training, c.token_days);
	print_zones("dnsbl_zones", c.rules.dnsbl, c.rules.ndnsbl);
	print_zones("uribl_zones", c.rules.uribl, c.rules.nuribl);
	printf("dnsbl_weight = %g\nuribl_weight = %g\ntrusted_networks = %zu extra\ndns_timeout_ms = %d\n",
	    c.rules.dnsbl_weight, c.rules.uribl_weight, c.rules.ntrusted, c.rules.timeout_ms);
	bayes_db_counts(db, &bc);
	printf("trained: %lld spam, %lld ham, %lld tokens\n", (long long)bc.nspam, (long long)bc.nham,
	    (long long)bc.tokens);
	verdict_config_clear(&c);
	return 0;
}

static int
policy(struct store *st, const char *which, const char *spam, const char *prefix, const char *days,
    const char *upstream)
{
	struct store_account a;
	const char *error, *slash = strchr(which, '/');
	char owner[200];
	sqlite3_stmt *q;
	int r, rc;

	if (slash == NULL || (size_t)(slash - which) >= sizeof(owner)) {
		fprintf(stderr, "popgate: expected OWNER/NAME\n");
		return 2;
	}
	memcpy(owner, which, (size_t)(slash - which));
	owner[slash - which] = '\0';
	if ((r = store_account_get(st, owner, slash + 1, &a, &error)) != 1) {
		fprintf(stderr, "popgate: %s\n", r == 0 ? "no such account" : error);
		return 1;
	}
	if (spam != NULL && strcmp(spam, "quarantine") != 0 && strcmp(spam, "tag") != 0) {
		store_account_clear(&a);
		fprintf(stderr, "popgate: --spam is quarantine or tag\n");
		return 2;
	}
	if (upstream != NULL && strcmp(upstream, "yes") != 0 && strcmp(upstream, "no") != 0) {
		store_account_clear(&a);
		fprintf(stderr, "popgate: --delete-upstream is yes or no\n");
		return 2;
	}
	if (days != NULL && (strspn(days, "0123456789") != strlen(days) || strlen(days) == 0 || strlen(days) > 5)) {
		store_account_clear(&a);
		fprintf(stderr, "popgate: --quarantine-days is a number of days (0: keep forever)\n");
		return 2;
	}
	if (sqlite3_prepare_v2(store_db(st), "UPDATE accounts SET spam_policy = coalesce(?1, spam_policy), "
	    "spam_subject_prefix = CASE WHEN ?2 IS NULL THEN spam_subject_prefix WHEN ?2 = '' THEN NULL ELSE ?2 END, "
	    "quarantine_days = coalesce(?3, quarantine_days), "
	    "spam_delete_upstream = coalesce(?4, spam_delete_upstream) WHERE id = ?5", -1, &q, NULL) != SQLITE_OK) {
		store_account_clear(&a);
		fprintf(stderr, "popgate: %s\n", store_error(st));
		return 1;
	}
	if (spam != NULL)
		sqlite3_bind_text(q, 1, spam, -1, SQLITE_STATIC);
	if (prefix != NULL)
		sqlite3_bind_text(q, 2, prefix, -1, SQLITE_STATIC);
	if (days != NULL)
		sqlite3_bind_int(q, 3, atoi(days));
	if (upstream != NULL)
		sqlite3_bind_int(q, 4, strcmp(upstream, "yes") == 0);
	sqlite3_bind_int64(q, 5, a.id);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	store_account_clear(&a);
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "popgate: %s\n", store_error(st));
		return 1;
	}
	if (sqlite3_prepare_v2(store_db(st), "SELECT spam_policy, coalesce(spam_subject_prefix, ''), "
	    "quarantine_days, spam_delete_upstream FROM accounts a JOIN users u ON u.id = a.owner_id "
	    "WHERE u.name = ?1 AND a.name = ?2", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, slash + 1, -1, SQLITE_STATIC);
		if (sqlite3_step(q) == SQLITE_ROW)
			printf("%s: spam %s, subject prefix \"%s\", quarantine kept %d days, delete upstream %s\n",
			    which, sqlite3_column_text(q, 0), sqlite3_column_text(q, 1), sqlite3_column_int(q, 2),
			    sqlite3_column_int(q, 3) ? "yes" : "no");
		sqlite3_finalize(q);
	}
	return 0;
}

int
cmd_filter(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "spam", required_argument, NULL, 's' },
		{ "subject-prefix", required_argument, NULL, 'p' },
		{ "quarantine-days", required_argument, NULL, 'd' },
		{ "delete-upstream", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *verb, *error, *spam = NULL, *prefix = NULL, *days = NULL, *upstream = NULL;
	struct config *cf = NULL;
	struct store *st = NULL;
	int ch, rc = 1, want;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 's': spam = optarg; break;
		case 'p': prefix = optarg; break;
		case 'd': days = optarg; break;
		case 'u': upstream = optarg; break;
		case 'h': fputs(filter_usage, stdout); return 0;
		default: fputs(filter_usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(filter_usage, stderr);
		return 2;
	}
	verb = argv[optind++];
	want = strcmp(verb, "show") == 0 || strcmp(verb, "expire") == 0 ? 0 : strcmp(verb, "set") == 0 ? 2 : strcmp(verb, "unset") == 0 ? 1 :
	    strcmp(verb, "policy") == 0 ? 1 : -1;
	if (want == -1 || argc - optind != want) {
		fputs(filter_usage, stderr);
		return 2;
	}
	if (prefix != NULL) {
		/* It goes into a header line as the message is served. */
		size_t n = strlen(prefix);
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)prefix[i] < 0x20 || prefix[i] == 0x7f) {
				fprintf(stderr, "popgate: --subject-prefix must not hold control characters\n");
				return 2;
			}
		}
		if (n > 100) {
			fprintf(stderr, "popgate: --subject-prefix is at most 100 bytes\n");
			return 2;
		}
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if (strcmp(verb, "show") == 0)
		rc = show(st);
	else if (strcmp(verb, "expire") == 0) {
		unsigned n;

		if (filter_token_expire(st, (int64_t)time(NULL), &n, &error) == -1) {
			fprintf(stderr, "popgate: %s\n", error);
		} else {
			printf("%u token%s of single messages expired\n", n, n == 1 ? "" : "s");
			rc = 0;
		}
	}
	else if (strcmp(verb, "policy") == 0)
		rc = policy(st, argv[optind], spam, prefix, days, upstream);
	else if (verdict_setting_set(store_db(st), argv[optind], want == 2 ? argv[optind + 1] : NULL, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		rc = 2;
	} else {
		printf(want == 2 ? "%s = %s\n" : "%s unset\n", argv[optind], want == 2 ? argv[optind + 1] : "");
		rc = 0;
	}
out:
	store_close(&st);
	config_free(&cf);
	return rc;
}
