/*
 * bayes.c: the working set, the scoring maths and training (see bayes.h).
 */
#include "bayes.h"
#include "log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const struct bayes_params bayes_default_params = {
	.robs = 0.1,
	.robx = 0.52,
	.min_dev = 0.4,
	.max_discriminators = 0,
	.exponent = { [TOKENIZE_WORD] = 0.2, [TOKENIZE_MARK] = 0.3 },
	.ham_cutoff = 0.30,
	.spam_cutoff = 0.70,
};

/* Working sets of more than this many tokens are dropped and refilled. */
#define WORKING_SET_MAX (1u << 20)

struct entry {
	uint64_t key;
	uint32_t spam, ham;     /* counts in the database, if loaded */
	int32_t dspam, dham;    /* learnt, not yet flushed */
	uint8_t used, loaded, dirty;
};

struct bayes {
	struct entry *t;
	size_t cap, count;      /* cap a power of two */
	int complete;           /* every database token is loaded */
	uint64_t nspam, nham;
	int64_t dnspam, dnham;  /* pending message totals */
	unsigned pending;
	int64_t generation;     /* of the database when loaded; -1 unknown */
};

struct bayes *
bayes_new(void)
{
	struct bayes *b = calloc(1, sizeof(*b));

	if (b == NULL)
		fatal("out of memory");
	b->cap = 1 << 12;
	if ((b->t = calloc(b->cap, sizeof(*b->t))) == NULL)
		fatal("out of memory");
	b->generation = -1;
	return b;
}

void
bayes_free(struct bayes **bp)
{
	if (*bp == NULL)
		return;
	free((*bp)->t);
	free(*bp);
	*bp = NULL;
}

uint64_t
bayes_nspam(const struct bayes *b)
{
	return b->nspam;
}

uint64_t
bayes_nham(const struct bayes *b)
{
	return b->nham;
}

unsigned
bayes_pending(const struct bayes *b)
{
	return b->pending;
}

static struct entry *
find(const struct bayes *b, uint64_t key)
{
	for (size_t s = (size_t)key & (b->cap - 1);; s = (s + 1) & (b->cap - 1)) {
		if (!b->t[s].used)
			return NULL;
		if (b->t[s].key == key)
			return &b->t[s];
	}
}

static void
grow(struct bayes *b)
{
	size_t ncap = b->cap * 2;
	struct entry *nt = calloc(ncap, sizeof(*nt));

	if (nt == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < b->cap; i++) {
		size_t s;

		if (!b->t[i].used)
			continue;
		for (s = (size_t)b->t[i].key & (ncap - 1); nt[s].used; s = (s + 1) & (ncap - 1))
			;
		nt[s] = b->t[i];
	}
	free(b->t);
	b->t = nt;
	b->cap = ncap;
}

static struct entry *
insert(struct bayes *b, uint64_t key)
{
	struct entry *e = find(b, key);
	size_t s;

	if (e != NULL)
		return e;
	if ((b->count + 1) * 4 > b->cap * 3)
		grow(b);
	for (s = (size_t)key & (b->cap - 1); b->t[s].used; s = (s + 1) & (b->cap - 1))
		;
	e = &b->t[s];
	memset(e, 0, sizeof(*e));
	e->key = key;
	e->used = 1;
	b->count++;
	return e;
}

/* Forgets the cached database counts but keeps pending training. */
static void
drop_cache(struct bayes *b)
{
	struct bayes *nb;
	size_t kept = 0;

	for (size_t i = 0; i < b->cap; i++) {
		if (b->t[i].used && b->t[i].dirty)
			kept++;
	}
	if (kept == 0) {
		if (b->cap > (1u << 16)) {
			free(b->t);
			b->cap = 1 << 12;
			if ((b->t = calloc(b->cap, sizeof(*b->t))) == NULL)
				fatal("out of memory");
		} else
			memset(b->t, 0, b->cap * sizeof(*b->t));
		b->count = 0;
		b->complete = 0;
		return;
	}
	nb = bayes_new();
	for (size_t i = 0; i < b->cap; i++) {
		struct entry *e;

		if (!b->t[i].used || !b->t[i].dirty)
			continue;
		e = insert(nb, b->t[i].key);
		e->dspam = b->t[i].dspam;
		e->dham = b->t[i].dham;
		e->dirty = 1;
	}
	free(b->t);
	b->t = nb->t;
	b->cap = nb->cap;
	b->count = nb->count;
	b->complete = 0;
	free(nb);
}

static int
db_error(sqlite3 *db, const char **error_r)
{
	*error_r = sqlite3_errmsg(db);
	return -1;
}

int
bayes_refresh(struct bayes *b, sqlite3 *db, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT nspam, nham, generation FROM bayes_meta WHERE id = 1", -1, &st,
	    NULL) != SQLITE_OK)
		return db_error(db, error_r);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t gen = sqlite3_column_int64(st, 2);

		b->nspam = (uint64_t)sqlite3_column_int64(st, 0);
		b->nham = (uint64_t)sqlite3_column_int64(st, 1);
		if (gen != b->generation) {
			drop_cache(b);
			b->generation = gen;
		}
	} else if (rc != SQLITE_DONE) {
		sqlite3_finalize(st);
		return db_error(db, error_r);
	}
	sqlite3_finalize(st);
	return 0;
}

int
bayes_preload(struct bayes *b, sqlite3 *db, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (bayes_refresh(b, db, error_r) == -1)
		return -1;
	if (b->complete)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT hash, spam, ham FROM bayes_tokens", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, error_r);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct entry *e = insert(b, (uint64_t)sqlite3_column_int64(st, 0));

		e->spam = (uint32_t)sqlite3_column_int64(st, 1);
		e->ham = (uint32_t)sqlite3_column_int64(st, 2);
		e->loaded = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(db, error_r);
	b->complete = 1;
	return 0;
}

/* ---- the maths ---- */

static double
logaddexp(double a, double b)
{
	if (a < b) {
		double t = a;

		a = b;
		b = t;
	}
	if (b == -INFINITY)
		return a;
	return a + log1p(exp(b - a));
}

/*
 * log of sum_{i=from}^{to-1} e^-m m^i / i!, to == 0 meaning to infinity: the
 * Poisson terms by plain multiplication, rescaled before they overflow, so
 * neither tail loses its small values to underflow or cancellation.
 */
static double
log_poisson(double m, unsigned from, unsigned to)
{
	double off = -m + (double)from * log(m) - lgamma((double)from + 1.0);
	double t = 1.0, s = 1.0;

	for (unsigned i = from + 1; to == 0 || i < to; i++) {
		t *= m / (double)i;
		s += t;
		if (s > 1e250) {
			off += log(s);
			t /= s;
			s = 1.0;
		}
		if (to == 0 && ((double)i > m && t < s * 1e-17))
			break;
		if (to == 0 && i - from > 10000000)
			break;
	}
	return off + log(s);
}

/*
 * Logs of the survival (q) and distribution (p) of chi-square with 2k
 * degrees of freedom at x2: q = e^-m sum_{i<k} m^i/i!, p = 1 - q, the
 * smaller one of the two always summed on its own.
 */
static void
chi2_log(double x2, unsigned k, double *lq_r, double *lp_r)
{
	double m = x2 / 2.0, lq, lp;

	if (k == 0 || m <= 0.0) {
		*lq_r = 0.0;
		*lp_r = -INFINITY;
		return;
	}
	lq = log_poisson(m, 0, k);
	if (lq > 0.0)
		lq = 0.0;
	if (lq < -M_LN2)
		lp = log1p(-exp(lq));
	else {
		lp = log_poisson(m, k, 0);
		if (lp > -M_LN2)
			lp = log1p(-exp(lq));
	}
	*lq_r = lq;
	*lp_r = lp;
}

double
bayes_chi2q(double x2, unsigned k)
{
	double lq, lp;

	chi2_log(x2, k, &lq, &lp);
	return exp(lq);
}

/*
 * A double holds 1 - 1e-30 as 1, so scores beyond 1 - BAYES_TAIL_HIGH (and,
 * where doubles run out, below BAYES_TAIL_LOW) are placed on a log scale
 * inside that last stretch: edge * K / (K + u), u the nats of evidence
 * beyond the edge. Their order is the order of the evidence, never a tie
 * at exactly 1 or 0.
 */
#define TAIL_K 1000.0

static double
tail(double l, double edge)
{
	double u = log(edge) - l;

	return edge * TAIL_K / (TAIL_K + u);
}

double
bayes_combine(const double *f, const int *family, unsigned n, const double *exponent, double *spamminess_r,
    double *hamminess_r)
{
	double lf = 0.0, l1f = 0.0, lqh, lph, lqs, lps, lo, hi, score;
	double sf[TOKENIZE_FAMILIES] = { 0 }, s1f[TOKENIZE_FAMILIES] = { 0 };
	unsigned nf[TOKENIZE_FAMILIES] = { 0 }, k = 0;

	if (n == 0) {
		if (spamminess_r != NULL)
			*spamminess_r = 0.0;
		if (hamminess_r != NULL)
			*hamminess_r = 0.0;
		return 0.5;
	}
	for (unsigned i = 0; i < n; i++) {
		int fam = family != NULL && family[i] > 0 && family[i] < TOKENIZE_FAMILIES ? family[i] : 0;

		sf[fam] += log(f[i]);
		s1f[fam] += log1p(-f[i]);
		nf[fam]++;
	}
	/* the N tokens of a family weigh as K = ceil(N^exponent[family]) independent ones */
	for (int fam = 0; fam < TOKENIZE_FAMILIES; fam++) {
		double ke, e;
		unsigned kf;

		if (nf[fam] == 0)
			continue;
		e = exponent != NULL ? exponent[fam] : 1.0;
		ke = e >= 1.0 ? (double)nf[fam] : ceil(pow((double)nf[fam], e > 0.0 ? e : 0.0));
		kf = ke < 1.0 ? 1 : ke > (double)nf[fam] ? nf[fam] : (unsigned)ke;
		lf += sf[fam] * (double)kf / (double)nf[fam];
		l1f += s1f[fam] * (double)kf / (double)nf[fam];
		k += kf;
	}
	chi2_log(-2.0 * lf, k, &lqh, &lph);     /* H = 1 - qh = ph */
	chi2_log(-2.0 * l1f, k, &lqs, &lps);    /* S = 1 - qs = ps */
	if (spamminess_r != NULL)
		*spamminess_r = exp(lps);
	if (hamminess_r != NULL)
		*hamminess_r = exp(lph);
	/* score = (1 + S - H) / 2 = (ps + qh) / 2, 1 - score = (qs + ph) / 2 */
	lo = logaddexp(lps, lqh) - M_LN2;
	hi = logaddexp(lqs, lph) - M_LN2;
	if (hi < log(BAYES_TAIL_HIGH))
		return 1.0 - tail(hi, BAYES_TAIL_HIGH);
	if (lo < log(BAYES_TAIL_LOW))
		return tail(lo, BAYES_TAIL_LOW);
	score = exp(lo);
	if (!(score >= 0.0))
		score = 0.5;
	if (score > 1.0)
		score = 1.0;
	return score;
}

double
bayes_token_prob(uint64_t s, uint64_t h, uint64_t nspam, uint64_t nham, const struct bayes_params *p)
{
	double sr, hr, pw, n, f;

	if (s > nspam)
		s = nspam;
	if (h > nham)
		h = nham;
	n = (double)(s + h);
	if (n == 0.0)
		return p->robx;
	sr = nspam > 0 ? (double)s / (double)nspam : 0.0;
	hr = nham > 0 ? (double)h / (double)nham : 0.0;
	pw = sr + hr > 0.0 ? sr / (sr + hr) : p->robx;
	f = (p->robs * p->robx + n * pw) / (p->robs + n);
	if (f < 1e-9)
		f = 1e-9;
	if (f > 1.0 - 1e-9)
		f = 1.0 - 1e-9;
	return f;
}

struct cand {
	double f, dist;
	uint64_t key;
	size_t idx;
	uint32_t spam, ham;
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->dist != y->dist)
		return x->dist > y->dist ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

static int
lookup_db(struct bayes *b, sqlite3 *db, sqlite3_stmt **stp, uint64_t key, uint32_t *s_r, uint32_t *h_r,
    const char **error_r)
{
	struct entry *e;
	int rc;

	if (*stp == NULL && sqlite3_prepare_v2(db, "SELECT spam, ham FROM bayes_tokens WHERE hash = ?", -1, stp,
	    NULL) != SQLITE_OK)
		return db_error(db, error_r);
	sqlite3_reset(*stp);
	sqlite3_bind_int64(*stp, 1, (int64_t)key);
	*s_r = *h_r = 0;
	if ((rc = sqlite3_step(*stp)) == SQLITE_ROW) {
		*s_r = (uint32_t)sqlite3_column_int64(*stp, 0);
		*h_r = (uint32_t)sqlite3_column_int64(*stp, 1);
	} else if (rc != SQLITE_DONE)
		return db_error(db, error_r);
	if (b->count >= WORKING_SET_MAX)
		drop_cache(b);
	e = insert(b, key);
	e->spam = *s_r;
	e->ham = *h_r;
	e->loaded = 1;
	return 0;
}

int
bayes_score(struct bayes *b, sqlite3 *db, const struct tokset *ts, const struct bayes_params *p,
    struct bayes_result *r, const char **error_r)
{
	size_t n = tokenize_set_count(ts), nc = 0;
	struct cand *c = malloc((n + 1) * sizeof(*c));
	sqlite3_stmt *st = NULL;
	double *f;
	int *fam = NULL;
	unsigned top[BAYES_WHY], k;
	unsigned use;

	if (c == NULL)
		fatal("out of memory");
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		uint64_t key = tokenize_set_hash(ts, i);
		const struct entry *e = find(b, key);
		uint32_t s = 0, h = 0;
		double fw, d;

		if (e != NULL && e->loaded) {
			s = e->spam;
			h = e->ham;
		} else if (!b->complete && db != NULL) {
			if (lookup_db(b, db, &st, key, &s, &h, error_r) == -1) {
				sqlite3_finalize(st);
				free(c);
				return -1;
			}
		}
		fw = bayes_token_prob(s, h, b->nspam, b->nham, p);
		d = fabs(fw - 0.5);
		if (d < p->min_dev)
			continue;
		c[nc].f = fw;
		c[nc].dist = d;
		c[nc].key = key;
		c[nc].idx = i;
		c[nc].spam = s;
		c[nc].ham = h;
		nc++;
	}
	sqlite3_finalize(st);
	if (p->max_discriminators != 0 && nc > p->max_discriminators) {
		qsort(c, nc, sizeof(*c), cand_cmp);
		use = p->max_discriminators;
	} else
		use = (unsigned)nc;
	if ((f = calloc(use + 1, sizeof(*f))) == NULL || (fam = calloc(use + 1, sizeof(*fam))) == NULL)
		fatal("out of memory");
	for (unsigned i = 0; i < use; i++) {
		f[i] = c[i].f;
		fam[i] = tokenize_set_family(ts, c[i].idx);
		/* the why: the BAYES_WHY strongest, strongest first */
		if (r->nwhy == BAYES_WHY && cand_cmp(&c[i], &c[top[BAYES_WHY - 1]]) >= 0)
			continue;
		for (k = r->nwhy < BAYES_WHY ? r->nwhy++ : BAYES_WHY - 1; k > 0 && cand_cmp(&c[i], &c[top[k - 1]]) < 0;
		    k--)
			top[k] = top[k - 1];
		top[k] = i;
	}
	r->score = bayes_combine(f, fam, use, p->exponent, &r->spamminess, &r->hamminess);
	r->used = use;
	for (k = 0; k < r->nwhy; k++) {
		r->why[k].token = tokenize_set_text(ts, c[top[k]].idx);
		r->why[k].prob = c[top[k]].f;
		r->why[k].spam = c[top[k]].spam;
		r->why[k].ham = c[top[k]].ham;
	}
	free(f);
	free(fam);
	free(c);
	return 0;
}

/* ---- training ---- */

void
bayes_discard(struct bayes *b)
{
	for (size_t i = 0; i < b->cap; i++) {
		if (b->t[i].used && b->t[i].dirty) {
			b->t[i].dirty = 0;
			b->t[i].dspam = b->t[i].dham = 0;
		}
	}
	b->dnspam = b->dnham = 0;
	b->pending = 0;
	b->generation = -1;
}

void
bayes_learn(struct bayes *b, const struct tokset *ts, int spam, int delta)
{
	size_t n = tokenize_set_count(ts);

	for (size_t i = 0; i < n; i++) {
		struct entry *e = insert(b, tokenize_set_hash(ts, i));

		if (spam)
			e->dspam += delta;
		else
			e->dham += delta;
		e->dirty = 1;
	}
	if (spam)
		b->dnspam += delta;
	else
		b->dnham += delta;
	b->pending++;
}

static uint32_t
apply(uint32_t v, int32_t d)
{
	int64_t x = (int64_t)v + d;

	return x < 0 ? 0 : (uint32_t)x;
}

/*
 * Ends a write that began with BEGIN IMMEDIATE when own (the caller had no
 * transaction open): commits if ok, else rolls back after taking the error.
 * Returns whether it all held.
 */
static int
tx_end(sqlite3 *db, int own, int ok, const char **error_r)
{
	if (ok && own && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		ok = 0;
	if (!ok) {
		*error_r = sqlite3_errmsg(db);
		if (own)
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	return ok;
}

int
bayes_flush(struct bayes *b, sqlite3 *db, const char **error_r)
{
	sqlite3_stmt *up = NULL, *del = NULL, *meta = NULL, *gen = NULL;
	int own = sqlite3_get_autocommit(db), ok = 0;
	int64_t day = (int64_t)(time(NULL) / 86400), newgen = -1;

	if (b->pending == 0)
		return 0;
	if (own && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, error_r);
	if (sqlite3_prepare_v2(db,
	    "INSERT INTO bayes_tokens (hash, spam, ham, last_seen) VALUES (?1, max(?2, 0), max(?3, 0), ?4) "
	    "ON CONFLICT (hash) DO UPDATE SET spam = max(spam + ?2, 0), ham = max(ham + ?3, 0), last_seen = ?4",
	    -1, &up, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "DELETE FROM bayes_tokens WHERE hash = ? AND spam = 0 AND ham = 0", -1, &del,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE bayes_meta SET nspam = max(nspam + ?1, 0), nham = max(nham + ?2, 0), "
	    "generation = generation + 1 WHERE id = 1", -1, &meta, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT nspam, nham, generation FROM bayes_meta WHERE id = 1", -1, &gen,
	    NULL) != SQLITE_OK)
		goto out;
	for (size_t i = 0; i < b->cap; i++) {
		struct entry *e = &b->t[i];

		if (!e->used || !e->dirty || (e->dspam == 0 && e->dham == 0))
			continue;
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, (int64_t)e->key);
		sqlite3_bind_int(up, 2, e->dspam);
		sqlite3_bind_int(up, 3, e->dham);
		sqlite3_bind_int64(up, 4, day);
		if (sqlite3_step(up) != SQLITE_DONE)
			goto out;
		if (e->dspam < 0 || e->dham < 0) {
			sqlite3_reset(del);
			sqlite3_bind_int64(del, 1, (int64_t)e->key);
			if (sqlite3_step(del) != SQLITE_DONE)
				goto out;
		}
	}
	sqlite3_bind_int64(meta, 1, b->dnspam);
	sqlite3_bind_int64(meta, 2, b->dnham);
	if (sqlite3_step(meta) != SQLITE_DONE)
		goto out;
	if (sqlite3_step(gen) == SQLITE_ROW) {
		b->nspam = (uint64_t)sqlite3_column_int64(gen, 0);
		b->nham = (uint64_t)sqlite3_column_int64(gen, 1);
		newgen = sqlite3_column_int64(gen, 2);
	}
	ok = 1;
out:
	ok = tx_end(db, own, ok, error_r);
	sqlite3_finalize(up);
	sqlite3_finalize(del);
	sqlite3_finalize(meta);
	sqlite3_finalize(gen);
	if (!ok)
		return -1;
	/* the flushed deltas are now in the database: fold them into the cache */
	for (size_t i = 0; i < b->cap; i++) {
		struct entry *e = &b->t[i];

		if (!e->used || !e->dirty)
			continue;
		if (e->loaded) {
			e->spam = apply(e->spam, e->dspam);
			e->ham = apply(e->ham, e->dham);
		} else if (b->complete) {
			e->spam = apply(0, e->dspam);
			e->ham = apply(0, e->dham);
			e->loaded = 1;
		}
		e->dspam = e->dham = 0;
		e->dirty = 0;
	}
	b->dnspam = b->dnham = 0;
	b->pending = 0;
	/* inside the caller's transaction a rollback could still undo it all */
	b->generation = own ? newgen : -1;
	return 0;
}

int
bayes_expire(sqlite3 *db, int64_t before_day, unsigned *removed_r, const char **error_r)
{
	sqlite3_stmt *del = NULL;
	int own = sqlite3_get_autocommit(db), ok = 0;

	*removed_r = 0;
	if (own && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, error_r);
	if (sqlite3_prepare_v2(db, "DELETE FROM bayes_tokens WHERE spam + ham <= 1 AND last_seen < ?", -1, &del,
	    NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(del, 1, before_day);
	if (sqlite3_step(del) != SQLITE_DONE)
		goto out;
	*removed_r = (unsigned)sqlite3_changes(db);
	/* working sets elsewhere hold the removed counts: make them reload */
	if (*removed_r > 0 && sqlite3_exec(db, "UPDATE bayes_meta SET generation = generation + 1 WHERE id = 1",
	    NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	ok = 1;
out:
	if (!(ok = tx_end(db, own, ok, error_r)))
		*removed_r = 0;
	sqlite3_finalize(del);
	return ok ? 0 : -1;
}

void
bayes_db_counts(sqlite3 *db, struct bayes_db_counts *c_r)
{
	sqlite3_stmt *q;

	c_r->nspam = c_r->nham = c_r->tokens = -1;
	if (sqlite3_prepare_v2(db, "SELECT nspam, nham, (SELECT count(*) FROM bayes_tokens) FROM bayes_meta "
	    "WHERE id = 1", -1, &q, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(q) == SQLITE_ROW) {
		c_r->nspam = sqlite3_column_int64(q, 0);
		c_r->nham = sqlite3_column_int64(q, 1);
		c_r->tokens = sqlite3_column_int64(q, 2);
	}
	sqlite3_finalize(q);
}
