/*
 * filter: turns one fetched message into a verdict, and carries out what
 * people decide about quarantined mail.
 *
 * filter_classify() runs the spam engine: mime and tokenize read the
 * message from a file descriptor (the sync spool; text is capped, so a
 * message of any size is never held whole in memory), bayes scores it with
 * one working set shared by the process, rules adds the sender lists and
 * (when configured and a resolver is set) DNSBL/URIBL, and verdict decides.
 * Spam is quarantined (state spam, hidden) unless the account's policy is
 * "tag"; unsure mail is always delivered, tagged.
 *
 * Training from stored messages is recorded in filter_training, so that a
 * message counts once and a correction first takes the earlier class back.
 * Implicit training happens only where the person's intent is unambiguous:
 * releasing a quarantined message trains it as ham, confirming it trains it
 * as spam. Deleting, reading or not reading mail trains nothing.
 */
#ifndef POPGATE_FILTER_H
#define POPGATE_FILTER_H

#include <stdint.h>
#include "store.h"

struct filter_input {
	int64_t account_id;
	const char *account;    /* "owner/name", for headers and logs */
	int fd;                 /* the raw message, readable from offset 0 */
	int64_t size;
	const char *from_addr;  /* address from the From header, or "" */
};

struct filter_verdict {
	enum msg_state state;   /* MSG_HAM (ham or unsure) or MSG_SPAM */
	const char *verdict;    /* "ham", "unsure" or "spam" (static) */
	double score;           /* spam probability in [0,1] */
	char *reasons;          /* JSON array, malloc'd */
	char *added_headers;    /* CRLF header lines prepended on RETR, malloc'd */
	char *subject_prefix;   /* inserted after "Subject:" on RETR, malloc'd, or NULL */
};

int filter_classify(struct store *st, const struct filter_input *in, struct filter_verdict *v_r,
    const char **error_r);
void filter_verdict_clear(struct filter_verdict *v);

/* DNSBL/URIBL lookups go through r (NULL: off). r must outlive its use. */
struct resolver;
void filter_set_resolver(struct resolver *r);
/* Frees the shared working set (at exit). */
void filter_shutdown(void);

/*
 * Trains a stored message as spam (1) or ham (0), untraining an earlier
 * opposite training first; a no-op if it was already trained so.
 */
int filter_train_message(struct store *st, int64_t message_id, int spam, const char **error_r);

/*
 * The quarantine. Each returns 1 done, 0 no such quarantined message, -1
 * error. release: back into the client's view (state released, same UIDL)
 * and trained as ham. confirm: trained as spam, stays quarantined. delete:
 * removed here; also upstream (state deleted, the next sync sends DELE)
 * only if the account's spam_delete_upstream is set, otherwise the body is
 * dropped and the record kept so the message is never fetched again.
 */
int filter_quarantine_release(struct store *st, int64_t message_id, const char **error_r);
int filter_quarantine_confirm(struct store *st, int64_t message_id, const char **error_r);
int filter_quarantine_delete(struct store *st, int64_t message_id, const char **error_r);
/* Deletes quarantined messages older than their account's quarantine_days. */
int filter_quarantine_expire(struct store *st, int64_t now, unsigned *count_r, const char **error_r);

/*
 * Forgets Bayes tokens of a single trained message whose last training is
 * older than the token_days setting (0: never); the count removed.
 */
int filter_token_expire(struct store *st, int64_t now, unsigned *count_r, const char **error_r);

/* Whether addr matches a list pattern ("*@example.com", "bob@*", exact; case-insensitive). */
int filter_pattern_match(const char *pattern, const char *addr);

#endif
