/*
 * filter.c: the verdict on one fetched message (see filter.h): tokenize,
 * score with the shared Bayes working set, check the rules, decide, apply
 * the account's policy.
 */
#include "filter.h"
#include "msg-headers.h"
#include "filter-int.h"
#include "bayes.h"
#include "rules.h"
#include "tokenize.h"
#include "verdict.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One working set for the whole process: sync workers score under the lock
 * (scoring is memory-only once a token was seen, so the lock is short), and
 * training in this process updates it in place. Training by another process
 * bumps bayes_meta.generation, which bayes_refresh() notices.
 */
static pthread_mutex_t filter_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bayes *filter_bayes;
static struct resolver *filter_resolver;

void
filter_verdict_clear(struct filter_verdict *v)
{
	free(v->reasons);
	free(v->added_headers);
	free(v->subject_prefix);
	memset(v, 0, sizeof(*v));
}

int
filter_pattern_match(const char *pattern, const char *addr)
{
	return fnmatch(pattern, addr, FNM_CASEFOLD) == 0;
}

void
filter_set_resolver(struct resolver *r)
{
	pthread_mutex_lock(&filter_lock);
	filter_resolver = r;
	pthread_mutex_unlock(&filter_lock);
}

void
filter_shutdown(void)
{
	pthread_mutex_lock(&filter_lock);
	bayes_free(&filter_bayes);
	filter_resolver = NULL;
	pthread_mutex_unlock(&filter_lock);
}

/* Locks and returns the shared working set, fresh against db. */
struct bayes *
filter_bayes_lock(sqlite3 *db, const char **error_r)
{
	pthread_mutex_lock(&filter_lock);
	if (filter_bayes == NULL)
		filter_bayes = bayes_new();
	if (bayes_refresh(filter_bayes, db, error_r) == -1) {
		pthread_mutex_unlock(&filter_lock);
		return NULL;
	}
	return filter_bayes;
}

void
filter_bayes_unlock(void)
{
	pthread_mutex_unlock(&filter_lock);
}

int
filter_token_expire(struct store *st, int64_t now, unsigned *count_r, const char **error_r)
{
	struct verdict_config c;
	int rc;

	*count_r = 0;
	if (verdict_config_load(store_db(st), &c, error_r) == -1)
		return -1;
	rc = c.token_days == 0 ? 0 : bayes_expire(store_db(st), now / 86400 - (int64_t)c.token_days, count_r, error_r);
	verdict_config_clear(&c);
	return rc;
}

/* "quarantine" unless the account says "tag"; prefix gets its Subject prefix ("" for none). */
static int
account_tags(sqlite3 *db, int64_t account_id, char *prefix, size_t size)
{
	sqlite3_stmt *st;
	int tag = 0;

	prefix[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT spam_policy, coalesce(spam_subject_prefix, '') FROM accounts "
	    "WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, account_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);

		tag = p != NULL && strcmp(p, "tag") == 0;
		snprintf(prefix, size, "%s", (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return tag;
}

/*
 * A delivered spam or unsure message shows the account's Subject prefix:
 * inserted into its Subject line when it has one, else as a Subject line
 * of popgate's own.
 */
static int
apply_prefix(const struct filter_input *in, const char *prefix, struct filter_verdict *v)
{
	struct msg_headers h;
	char *more;

	if (msg_headers_read(in->fd, &h) == -1)
		return -1;
	if (h.has_subject) {
		v->subject_prefix = strdup(prefix);
		msg_headers_clear(&h);
		return v->subject_prefix == NULL ? -1 : 0;
	}
	msg_headers_clear(&h);
	if (asprintf(&more, "%sSubject: %s\r\n", v->added_headers, prefix) == -1)
		return -1;
	free(v->added_headers);
	v->added_headers = more;
	return 0;
}

int
filter_classify(struct store *st, const struct filter_input *in, struct filter_verdict *v_r,
    const char **error_r)
{
	sqlite3 *db = store_db(st);
	struct verdict_config vc;
	struct tokenize_info info;
	struct rules_lists *lists = NULL;
	struct rules_hits hits;
	struct bayes_result br;
	struct tokset *ts = NULL;
	struct verdict v;
	struct bayes *b;
	struct resolver *res;
	char prefix[128];
	int rc = -1, ready, tag;

	memset(v_r, 0, sizeof(*v_r));
	memset(&info, 0, sizeof(info));
	memset(&hits, 0, sizeof(hits));
	memset(&v, 0, sizeof(v));
	if (verdict_config_load(db, &vc, error_r) == -1)
		return -1;
	if (rules_lists_load(st, &lists, error_r) == -1)
		goto out;
	ts = tokenize_set_new(0);
	if (tokenize_fd(ts, &info, in->fd, error_r) == -1)
		goto out;
	rules_lists_check(lists, in->from_addr != NULL && in->from_addr[0] != '\0' ? in->from_addr : info.from,
	    &hits);
	if ((b = filter_bayes_lock(db, error_r)) == NULL)
		goto out;
	ready = verdict_bayes_ready(&vc, bayes_nspam(b), bayes_nham(b));
	rc = ready ? bayes_score(b, db, ts, &vc.bayes, &br, error_r) : 0;
	res = filter_resolver;
	filter_bayes_unlock();
	if (rc == -1)
		goto out;
	rc = -1;
	/* the network is asked only when the lists did not already decide */
	if (!hits.allow && !hits.block) {
		rules_network(&vc.rules, res, &info, &hits);
		rules_engines(&vc.rules, in->fd, in->size, &hits);
	}
	if (verdict_decide(&vc, ready ? &br : NULL, &hits, &v) == -1) {
		*error_r = "out of memory";
		goto out;
	}
	v_r->verdict = verdict_class_name(v.cls);
	v_r->score = v.score;
	tag = account_tags(db, in->account_id, prefix, sizeof(prefix));
	v_r->state = v.cls == VERDICT_SPAM && !tag ? MSG_SPAM : MSG_HAM;
	v_r->reasons = v.reasons;
	v.reasons = NULL;
	if ((v_r->added_headers = verdict_headers(&v, &vc)) == NULL ||
	    (v.cls != VERDICT_HAM && v_r->state == MSG_HAM && prefix[0] != '\0' &&
	    apply_prefix(in, prefix, v_r) == -1)) {
		filter_verdict_clear(v_r);
		*error_r = "out of memory";
		goto out;
	}
	rc = 0;
out:
	verdict_clear(&v);
	tokenize_info_clear(&info);
	tokenize_set_free(&ts);
	rules_lists_free(&lists);
	verdict_config_clear(&vc);
	return rc;
}
