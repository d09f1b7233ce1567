/*
 * test-bayes: the classifier's maths against values worked out by hand
 * (see the comments), then training, untraining and the working set on a
 * real store.
 */
#include "bayes.h"
#include "store.h"
#include "tokenize.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static const struct bayes_params hand = {
	.robs = 0.45, .robx = 0.5, .min_dev = 0.1, .max_discriminators = 150, .exponent = { 1.0, 1.0 }, .ham_cutoff = 0.2,
	.spam_cutoff = 0.9,
};

static void
test_token_prob(void)
{
	double f;

	/*
	 * s=3 of nspam=10, h=1 of nham=20: ratios 0.3 and 0.05, p = 0.3/0.35 =
	 * 6/7; n = 4; f = (0.45*0.5 + 4*6/7) / 4.45 = 0.8210272873...
	 */
	f = bayes_token_prob(3, 1, 10, 20, &hand);
	CHECK(NEAR(f, 0.8210272873194222), "f(w) for 3 spam / 1 ham of 10 / 20 is %.12f", f);
	/* unknown token: the prior */
	CHECK(bayes_token_prob(0, 0, 10, 20, &hand) == 0.5, "unknown token gets robx");
	/* only in spam, once: p = 1, f = (0.225 + 1) / 1.45 = 0.8448275862 */
	f = bayes_token_prob(1, 0, 10, 20, &hand);
	CHECK(NEAR(f, 1.225 / 1.45), "f(w) for a token seen once in spam is %.12f", f);
	/* counts above the message totals are capped (a token counts once per message) */
	CHECK(bayes_token_prob(15, 0, 10, 20, &hand) == bayes_token_prob(10, 0, 10, 20, &hand),
	    "counts are capped at the class totals");
	/* symmetric counts relative to the totals: p = 0.5 */
	CHECK(NEAR(bayes_token_prob(5, 10, 10, 20, &hand), 0.5), "equal ratios give 0.5");
}

static void
test_chi2(void)
{
	/* 2 degrees of freedom: Q = e^(-x/2); x = 2: e^-1 */
	CHECK(NEAR(bayes_chi2q(2.0, 1), exp(-1.0)), "chi2Q(2, 2 dof) = e^-1");
	/* 4 dof: e^-m (1 + m), m = 1.5: 0.5578254004 */
	CHECK(NEAR(bayes_chi2q(3.0, 2), 0.5578254003710745), "chi2Q(3, 4 dof) = e^-1.5 * 2.5");
	/* 6 dof: e^-5 (1 + 5 + 12.5) = 0.1246520195 */
	CHECK(NEAR(bayes_chi2q(10.0, 3), 0.12465201948308113), "chi2Q(10, 6 dof) = e^-5 * 18.5");
	CHECK(bayes_chi2q(0.0, 5) == 1.0, "chi2Q(0) = 1");
	/* far tail: no underflow to exactly 0 before 1e-300 */
	CHECK(bayes_chi2q(1000.0, 10) > 0.0 && bayes_chi2q(1000.0, 10) < 1e-190, "far tail stays positive (%g)", bayes_chi2q(1000.0, 10));
}

static const double plain[TOKENIZE_FAMILIES] = { 1.0, 1.0 };
static const double e03[TOKENIZE_FAMILIES] = { 0.3, 0.3 };

static void
test_combine(void)
{
	double f[60], s, h, score;

	/* one token: S = f, H = 1 - f, score = f */
	f[0] = 0.8;
	score = bayes_combine(f, NULL, 1, plain, &s, &h);
	CHECK(NEAR(score, 0.8) && NEAR(s, 0.8) && NEAR(h, 0.2), "one token scores its own f (%.12f)", score);
	/*
	 * 0.9 and 0.8: prod(1-f) = 0.02, S = 1 - 0.02 (1 - ln 0.02) = 0.9017595399;
	 * prod f = 0.72, H = 1 - 0.72 (1 - ln 0.72) = 0.0434770718;
	 * score = (1 + S - H) / 2 = 0.9291412341
	 */
	f[0] = 0.9;
	f[1] = 0.8;
	score = bayes_combine(f, NULL, 2, plain, &s, &h);
	CHECK(NEAR(s, 0.9017595398914371), "S for 0.9, 0.8 is %.12f", s);
	CHECK(NEAR(h, 0.043477071780133936), "H for 0.9, 0.8 is %.12f", h);
	CHECK(NEAR(score, 0.9291412340556515), "score for 0.9, 0.8 is %.12f", score);
	/* opposite evidence cancels */
	f[0] = 0.9;
	f[1] = 0.1;
	CHECK(NEAR(bayes_combine(f, NULL, 2, plain, NULL, NULL), 0.5), "0.9 and 0.1 give 0.5");
	/* three tokens, worked the same way: 0.8112921832 */
	f[0] = 0.99;
	f[1] = 0.2;
	f[2] = 0.7;
	score = bayes_combine(f, NULL, 3, plain, NULL, NULL);
	CHECK(NEAR(score, 0.8112921831631932), "score for 0.99, 0.2, 0.7 is %.12f", score);
	/*
	 * the same three counted as K = ceil(3^0.3) = 2 independent tokens,
	 * both log sums scaled by K/N = 2/3: m = -(2/3) ln 0.0024 = 4.02152,
	 * S = 1 - e^-m (1 + m) = 0.9099860676; m = -(2/3) ln 0.1386 = 1.31752,
	 * H = 1 - e^-m (1 + m) = 0.3793438671; score 0.7653211002
	 */
	score = bayes_combine(f, NULL, 3, e03, &s, &h);
	CHECK(NEAR(s, 0.9099860675731162) && NEAR(h, 0.37934386711373824) && NEAR(score, 0.7653211002296889),
	    "exponent 0.3: 3 tokens weigh as 2, score %.12f", score);
	/*
	 * two families, 0.99 and 0.2 words and 0.7 a mark: K = ceil(2^0.3) + 1
	 * = 3, every token counts and the score is plain Fisher's 0.8112921832
	 */
	{
		int fam[3] = { TOKENIZE_WORD, TOKENIZE_WORD, TOKENIZE_MARK };

		score = bayes_combine(f, fam, 3, e03, NULL, NULL);
		CHECK(NEAR(score, 0.8112921831631932), "exponent 0.3, families of 2 and 1: plain Fisher (%.12f)",
		    score);
	}
	/* each family has its own exponent: words 0.3 and marks 1 gives the
	 * 0.765 above for three words, words 1 and marks 0.3 plain Fisher */
	{
		static const double words03[TOKENIZE_FAMILIES] = { [TOKENIZE_WORD] = 0.3, [TOKENIZE_MARK] = 1.0 };
		static const double marks03[TOKENIZE_FAMILIES] = { [TOKENIZE_WORD] = 1.0, [TOKENIZE_MARK] = 0.3 };

		CHECK(NEAR(bayes_combine(f, NULL, 3, words03, NULL, NULL), 0.7653211002296889) &&
		    NEAR(bayes_combine(f, NULL, 3, marks03, NULL, NULL), 0.8112921831631932),
		    "the word exponent applies to words, the mark exponent to marks");
	}
	/* no tokens: neutral */
	CHECK(bayes_combine(f, NULL, 0, plain, NULL, NULL) == 0.5, "no evidence gives 0.5");
	/* much ham evidence: tiny but still ordered, not a flat 0 */
	for (int i = 0; i < 60; i++)
		f[i] = 0.01;
	score = bayes_combine(f, NULL, 60, plain, NULL, NULL);
	f[59] = 0.02;
	CHECK(score > 0.0 && score < 1e-20 && bayes_combine(f, NULL, 60, plain, NULL, NULL) > score,
	    "strong ham scores stay ordered (%g)", score);
	for (int i = 0; i < 60; i++)
		f[i] = 0.99;
	CHECK(bayes_combine(f, NULL, 60, plain, NULL, NULL) > 0.999999, "strong spam scores near 1");
}

/*
 * Near 1 a double has no room for 1 - 1e-30: the score must still rank
 * messages by their evidence there (classify output feeds ROC measurements)
 * and never tie at exactly 1, nor at 0 where doubles run out.
 */
static void
test_tails(void)
{
	static double f[6000];
	double prev = 0.0, score = 0.0;
	int ordered = 1, crossed = 0;

	for (unsigned n = 1; n <= 400; n++) {
		for (unsigned i = 0; i < n; i++)
			f[i] = 0.9;
		score = bayes_combine(f, NULL, n, plain, NULL, NULL);
		if (!(score > prev) || score >= 1.0)
			ordered = 0;
		if (1.0 - score < BAYES_TAIL_HIGH)
			crossed = 1;
		prev = score;
	}
	CHECK(ordered && crossed, "1..400 spam tokens: scores rise strictly past 1 - 1e-9, never 1 (last %.17g)",
	    score);
	for (unsigned i = 0; i < 3000; i++)
		f[i] = 1.0 - 1e-9;
	prev = bayes_combine(f, NULL, 3000, plain, NULL, NULL);
	f[2999] = 1.0 - 1e-8;
	score = bayes_combine(f, NULL, 3000, plain, NULL, NULL);
	CHECK(prev < 1.0 && score < prev, "3000 near-certain spam tokens: below 1 and one weaker token "
	    "lowers it (%.17g > %.17g)", prev, score);
	prev = 1.0;
	ordered = 1;
	crossed = 0;
	for (unsigned n = 1; n <= 6000; n += 50) {
		for (unsigned i = 0; i < n; i++)
			f[i] = 0.1;
		score = bayes_combine(f, NULL, n, plain, NULL, NULL);
		if (!(score < prev) || score <= 0.0)
			ordered = 0;
		if (score < BAYES_TAIL_LOW)
			crossed = 1;
		prev = score;
	}
	CHECK(ordered && crossed, "1..6000 ham tokens: scores fall strictly below 1e-300, never 0 (last %g)", score);
	/* conflicting strong evidence stays in the middle */
	for (unsigned i = 0; i < 200; i++)
		f[i] = i % 2 ? 0.01 : 0.99;
	score = bayes_combine(f, NULL, 200, plain, NULL, NULL);
	CHECK(score > 0.3 && score < 0.7, "100 strong spam and 100 strong ham tokens: unsure (%g)", score);
}

static void
set(struct tokset *ts, const char *words)
{
	char buf[256], *save = NULL;

	tokenize_set_clear(ts);
	snprintf(buf, sizeof(buf), "%s", words);
	for (char *w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
		tokenize_set_add(ts, "", w, strlen(w));
}

static long long
count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_store(void)
{
	char dir[] = "/tmp/test-bayes-XXXXXX", path[300];
	struct store *st = NULL;
	struct bayes *b = bayes_new(), *other = bayes_new(), *pre = bayes_new();
	struct tokset *ts = tokenize_set_new(0);
	struct bayes_result r, r2;
	const char *error = NULL;
	sqlite3 *db;
	double expect;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/popgate.db", dir);
	CHECK(store_open(path, &st, &error) == 0, "store opens with the filter migration (%s)",
	    error != NULL ? error : "ok");
	if (st == NULL)
		return;
	db = store_db(st);
	CHECK(bayes_refresh(b, db, &error) == 0 && bayes_nspam(b) == 0, "empty database");

	/* two spams, one ham */
	set(ts, "cheap pills now");
	bayes_learn(b, ts, 1, 1);
	set(ts, "cheap watches now");
	bayes_learn(b, ts, 1, 1);
	set(ts, "meeting notes now");
	bayes_learn(b, ts, 0, 1);
	CHECK(count(db, "SELECT count(*) FROM bayes_tokens") == 0, "nothing written before the flush");
	CHECK(bayes_flush(b, db, &error) == 0, "flush");
	CHECK(count(db, "SELECT nspam FROM bayes_meta") == 2 && count(db, "SELECT nham FROM bayes_meta") == 1,
	    "message totals stored");
	CHECK(count(db, "SELECT count(*) FROM bayes_tokens") == 6, "six distinct tokens stored");
	CHECK(count(db, "SELECT spam FROM bayes_tokens WHERE hash = " "(SELECT hash FROM bayes_tokens "
	    "ORDER BY spam DESC LIMIT 1)") == 2, "a token in both spams counts 2");

	/*
	 * "cheap": s=2 of 2, h=0 of 1 -> p = 1, f = (0.225 + 2) / 2.45 = 0.9081632653;
	 * "now": s=2/2, h=1/1 -> p = 0.5, ignored (|f - 0.5| < 0.1);
	 * so the score of {cheap, now} is f(cheap) alone.
	 */
	set(ts, "cheap now");
	CHECK(bayes_score(b, db, ts, &hand, &r, &error) == 0, "score");
	expect = 2.225 / 2.45;
	CHECK(NEAR(r.score, expect) && r.used == 1, "score of {cheap, now} is f(cheap) = %.12f", r.score);
	CHECK(r.nwhy == 1 && strcmp(r.why[0].token, "cheap") == 0 && r.why[0].spam == 2 && r.why[0].ham == 0,
	    "the why names the strongest token with its counts");

	/* another process's working set notices the training through the generation */
	CHECK(bayes_refresh(other, db, &error) == 0, "second working set");
	CHECK(bayes_score(other, db, ts, &hand, &r2, &error) == 0 && NEAR(r2.score, r.score),
	    "second working set scores the same lazily");
	set(ts, "meeting");
	bayes_learn(b, ts, 0, 1);
	bayes_learn(b, ts, 0, 1);
	CHECK(bayes_flush(b, db, &error) == 0, "more ham trained");
	set(ts, "cheap now");
	CHECK(bayes_refresh(other, db, &error) == 0 && bayes_nham(other) == 3, "refresh sees the new totals");
	/* "cheap": h=0 of 3 now, p still 1: same f; "now": s=2/2, h=1/3 -> p = 0.75, f = (0.225+3*0.75)/3.45 */
	CHECK(bayes_score(other, db, ts, &hand, &r2, &error) == 0 && r2.used == 2,
	    "after refresh the new counts are used (%u tokens)", r2.used);

	/* preloaded and lazy agree */
	CHECK(bayes_preload(pre, db, &error) == 0, "preload");
	CHECK(bayes_score(pre, NULL, ts, &hand, &r, &error) == 0 && NEAR(r.score, r2.score),
	    "preloaded scoring without the database agrees (%.12f)", r.score);

	/* untraining everything leaves nothing behind */
	set(ts, "cheap pills now");
	bayes_learn(b, ts, 1, -1);
	set(ts, "cheap watches now");
	bayes_learn(b, ts, 1, -1);
	set(ts, "meeting notes now");
	bayes_learn(b, ts, 0, -1);
	set(ts, "meeting");
	bayes_learn(b, ts, 0, -1);
	bayes_learn(b, ts, 0, -1);
	CHECK(bayes_flush(b, db, &error) == 0, "untrain flush");
	CHECK(count(db, "SELECT count(*) FROM bayes_tokens") == 0, "untraining removes every token row");
	CHECK(count(db, "SELECT nspam + nham FROM bayes_meta") == 0, "and the totals");
	/* untraining below zero is clamped */
	bayes_learn(b, ts, 1, -1);
	CHECK(bayes_flush(b, db, &error) == 0 && count(db, "SELECT nspam FROM bayes_meta") == 0,
	    "totals never go negative");

	bayes_free(&b);
	bayes_free(&other);
	bayes_free(&pre);
	CHECK(b == NULL, "bayes_free sets the pointer to NULL");
	tokenize_set_free(&ts);
	store_close(&st);
	unlink(path);
	snprintf(path, sizeof(path), "%s/popgate.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/popgate.db-shm", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	test_token_prob();
	test_chi2();
	test_combine();
	test_tails();
	test_store();
	return test_done();
}
