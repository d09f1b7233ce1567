/*
 * bayes: the statistical classifier. Token counts per class live in SQLite
 * (table bayes_tokens, keyed by the 64-bit token hash, WITHOUT ROWID) with
 * the message totals in bayes_meta; a struct bayes is the in-memory working
 * set in front of them, so that scoring a message costs no disk access per
 * token once its tokens are known.
 *
 * Scoring is Gary Robinson's: each token's spam probability
 *     p(w) = (s/nspam) / (s/nspam + h/nham)
 * is shrunk towards robx with strength robs,
 *     f(w) = (robs * robx + n * p(w)) / (robs + n),   n = s + h,
 * tokens with |f(w) - 0.5| < min_dev are ignored, all the others are kept
 * (or the max_discriminators most extreme ones, when that is not 0), and
 * Fisher's method combines them. The tokens of one message are far from
 * independent, and plain Fisher lets a long message's score run to 1e-100 on
 * the strength of its length; so the N_j tokens of each family j (plain
 * words; marks: header, URL and other prefixed tokens, see tokenize.h) count
 * as K_j = ceil(N_j^e_j) independent pieces of evidence (e_j = exponent[j]:
 * word_exponent, mark_exponent; 1 is plain Fisher), L_j being the family's
 * log sum:
 *     S = 1 - C^-1(-2 sum_j (K_j/N_j) L_j(1 - f), 2K),
 *     H = 1 - C^-1(-2 sum_j (K_j/N_j) L_j(f), 2K),    K = sum_j K_j,
 *     score = (1 + S - H) / 2,
 * where C^-1 is the chi-square survival function, computed in logs. A
 * double cannot hold 1 - 1e-30, so scores within BAYES_TAIL_HIGH of 1 (and
 * below BAYES_TAIL_LOW) keep the order of their evidence on a log scale in
 * that last stretch rather than all becoming 1 (see bayes_combine). Below
 * ham_cutoff a message is ham, from spam_cutoff on spam, unsure in between.
 *
 * It owns none of the policy (that is verdict's) and never reads messages
 * (tokenize hands it token sets). A struct bayes is not thread-safe: callers
 * serialise, or preload it and then only score from many threads.
 */
#ifndef POPGATE_BAYES_H
#define POPGATE_BAYES_H

#include <sqlite3.h>
#include <stdint.h>

#include "tokenize.h"

struct bayes_params {
	double robs;                /* strength of the prior */
	double robx;                /* the prior: probability of an unknown token */
	double min_dev;             /* ignore tokens closer to 0.5 than this */
	unsigned max_discriminators;    /* 0: every token beyond min_dev */
	double exponent[TOKENIZE_FAMILIES]; /* N tokens of a family count as ceil(N^e) */
	double ham_cutoff;          /* score < ham_cutoff: ham */
	double spam_cutoff;         /* score >= spam_cutoff: spam */
};

extern const struct bayes_params bayes_default_params;

#define BAYES_TAIL_HIGH 1e-9
#define BAYES_TAIL_LOW 1e-300

#define BAYES_WHY 12

struct bayes_clue {
	const char *token;          /* borrowed from the token set */
	double prob;                /* f(w) */
	uint32_t spam, ham;
};

struct bayes_result {
	double score;               /* in [0,1] */
	double spamminess;          /* S */
	double hamminess;           /* H */
	unsigned used;              /* tokens that took part */
	unsigned nwhy;
	struct bayes_clue why[BAYES_WHY];   /* strongest first */
};

struct bayes;

struct bayes *bayes_new(void);
void bayes_free(struct bayes **bp);

/*
 * Reads the totals; if the database was trained by someone else since the
 * last call, drops the cached counts. Call before scoring a batch.
 */
int bayes_refresh(struct bayes *b, sqlite3 *db, const char **error_r);
/* Loads every token into memory; afterwards scoring never touches db. */
int bayes_preload(struct bayes *b, sqlite3 *db, const char **error_r);
uint64_t bayes_nspam(const struct bayes *b);
uint64_t bayes_nham(const struct bayes *b);

/*
 * Scores a token set. db may be NULL after bayes_preload(); then this only
 * reads b and may run in several threads at once.
 */
int bayes_score(struct bayes *b, sqlite3 *db, const struct tokset *ts, const struct bayes_params *p,
    struct bayes_result *r_r, const char **error_r);

/* The probability f(w) of one token with counts s and h (exposed for tests). */
double bayes_token_prob(uint64_t s, uint64_t h, uint64_t nspam, uint64_t nham, const struct bayes_params *p);
/*
 * Fisher's combining of n probabilities (exposed for tests), family[i] the
 * token family of f[i] (NULL: all one family). Scores whose
 * distance to 1 is d < BAYES_TAIL_HIGH come out as 1 - E K / (K + u), where
 * E = BAYES_TAIL_HIGH, K = 1000 and u = ln E - ln d (likewise E K / (K + u)
 * for scores below BAYES_TAIL_LOW): monotonic in the evidence, 1 or 0 only
 * for infinite evidence.
 */
double bayes_combine(const double *f, const int *family, unsigned n, const double *exponent, double *spamminess_r,
    double *hamminess_r);
/* The chi-square survival function for x2 with 2*k degrees of freedom. */
double bayes_chi2q(double x2, unsigned k);

/*
 * Training: counts the message (its distinct tokens) once as spam or ham,
 * delta +1 to learn, -1 to unlearn. Kept in memory until bayes_flush(),
 * which writes everything in one transaction (or within the caller's, if
 * one is open).
 */
void bayes_learn(struct bayes *b, const struct tokset *ts, int spam, int delta);
int bayes_flush(struct bayes *b, sqlite3 *db, const char **error_r);
/* Forgets unflushed training (after the caller's transaction failed). */
void bayes_discard(struct bayes *b);
/* Pending (unflushed) messages. */
unsigned bayes_pending(const struct bayes *b);

/* What the database holds, for people: -1 each when it cannot be read. */
struct bayes_db_counts {
	int64_t nspam, nham, tokens;
};
void bayes_db_counts(sqlite3 *db, struct bayes_db_counts *c_r);

/*
 * Forgets the tokens that only one trained message ever had and that no
 * training has touched since before before_day (a day number, Unix time /
 * 86400): most of a database is such tokens, and they decide little. Other
 * processes' working sets see the change through the generation.
 */
int bayes_expire(sqlite3 *db, int64_t before_day, unsigned *removed_r, const char **error_r);

#endif
