/*
 * verdict: turns the Bayes result and the rule hits into the final word on
 * one message: ham, unsure or spam, a score in [0,1], the reasons as JSON
 * and the header lines popgate adds. It also owns the filter settings kept
 * in SQLite (table filter_settings), with their defaults.
 *
 * The score is the Bayes score (0 while Bayes is untrained) plus the
 * weights of the rules that hit, clamped to [0,1]; an allow-list hit makes it ham (score 0) and a
 * block-list hit spam (score 1) whatever else was found. It decides, it
 * never acts: hiding, tagging and training belong to its callers.
 */
#ifndef POPGATE_VERDICT_H
#define POPGATE_VERDICT_H

#include <sqlite3.h>
#include <stdint.h>

#include "bayes.h"
#include "rules.h"

struct verdict_config {
	struct bayes_params bayes;  /* incl. ham_cutoff and spam_cutoff */
	struct rules_config rules;
	/*
	 * Bayes speaks only once it has seen this many spam and this many ham
	 * messages; before that it abstains and the score is the rules' alone
	 * (starting from 0), so a fresh installation delivers mail untagged
	 * instead of calling everything unsure.
	 */
	unsigned min_training;
	/* Tokens seen in one trained message are forgotten this many days after
	 * their last training (0: never); see bayes_expire(). */
	unsigned token_days;
};

enum verdict_class { VERDICT_HAM, VERDICT_UNSURE, VERDICT_SPAM };

struct verdict {
	enum verdict_class cls;
	double score;
	char *reasons;          /* JSON array, malloc'd */
};

/* Defaults, then every key found in filter_settings. Unknown keys are errors. */
int verdict_config_load(sqlite3 *db, struct verdict_config *c, const char **error_r);
void verdict_config_clear(struct verdict_config *c);
/* Checks and stores one setting (used by the CLI); NULL value deletes it. */
int verdict_setting_set(sqlite3 *db, const char *key, const char *value, const char **error_r);

const char *verdict_class_name(enum verdict_class cls);

/* The class and score alone (no reasons). */
enum verdict_class verdict_classify(const struct verdict_config *c, const struct bayes_result *br,
    const struct rules_hits *hits, double *score_r);
/* Whether Bayes has enough training to be asked. */
int verdict_bayes_ready(const struct verdict_config *c, uint64_t nspam, uint64_t nham);
/* Decides. br may be NULL (Bayes abstains); hits may be empty. */
int verdict_decide(const struct verdict_config *c, const struct bayes_result *br, const struct rules_hits *hits,
    struct verdict *v_r);
void verdict_clear(struct verdict *v);

/*
 * The header lines added on delivery (CRLF-terminated, malloc'd):
 * X-Popgate-Verdict always; for unsure and spam (the tagged classes) also
 * the SpamAssassin-compatible X-Spam-Flag (YES only for spam),
 * X-Spam-Status and X-Spam-Score. Ham is not tagged.
 */
char *verdict_headers(const struct verdict *v, const struct verdict_config *c);

#endif
