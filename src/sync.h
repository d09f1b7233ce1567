/*
 * sync: brings one upstream account's mailbox into the store.
 *
 * A sync lists the upstream UIDLs, sends the DELEs that clients asked for,
 * fetches each new message into a spool file and commits it to SQLite as
 * pending, classifies pending messages, and ends with QUIT. Upstream
 * deletion happens only for messages a client deleted, and is recorded
 * locally only after the upstream QUIT succeeded; a sync broken at any point
 * leaves work that the next one finishes (DESIGN.md, "Nothing is lost").
 *
 * The scheduler runs syncs on a small pool of worker threads: every
 * [sync] interval seconds for every account, and on demand (client login,
 * QUIT after DELE). Requests for one account coalesce; an account is never
 * synced by two threads at once. The same timer expires old quarantined
 * messages (filter_quarantine_expire) at most once an hour.
 */
#ifndef POPGATE_SYNC_H
#define POPGATE_SYNC_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct crypto_box;
struct store;

struct sync_result {
	int fetched;        /* new messages committed */
	int classified;     /* pending messages given a verdict */
	int deleted;        /* upstream deletions confirmed by QUIT */
	int upstream;       /* messages upstream at the start */
	int skipped;        /* too big to fetch: left upstream untouched */
};

/* One sync of one account, in the calling thread. */
int sync_account(struct store *st, const struct config *cf, struct crypto_box *box, int64_t account_id,
    struct sync_result *res_r, char *err, size_t errlen);

struct sync;
int sync_start(const struct config *cf, struct crypto_box *box, struct sync **s_r, const char **error_r);
/* Stops the timer and workers, waiting for running syncs to end. */
void sync_stop(struct sync **sp);
/* Asks for a sync that starts after this call. */
void sync_request(struct sync *s, int64_t account_id);
/*
 * Asks for syncs of every account in ids and waits until each has finished
 * one that started after this call, or timeout_ms passed. Returns the number
 * of accounts whose sync finished in time.
 */
size_t sync_wait(struct sync *s, const int64_t *ids, size_t n, int timeout_ms);

#endif
