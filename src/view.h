/*
 * view: the maildrop one POP3 session sees.
 *
 * A snapshot taken after login of the shown messages (ham and released) of
 * the session's accounts, numbered from 1 in arrival order, with per-message
 * deletion marks that only QUIT turns into state changes. The UIDL shown is
 * the upstream UIDL, prefixed "ACCOUNT:" in an aggregated view; the size
 * shown includes the header lines popgate prepends and a Subject prefix.
 */
#ifndef POPGATE_VIEW_H
#define POPGATE_VIEW_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct view_msg {
	int64_t id;
	int64_t account_id;
	char *uidl;           /* as shown to the client */
	int64_t size;         /* raw size + added headers + " PREFIX" in the Subject */
	char *added_headers;
	char *subject_prefix;  /* "" for none */
	int deleted;
};

struct view {
	struct view_msg *msgs;
	size_t count;
};

struct view_account {
	int64_t id;
	const char *name;
};

/* Builds the snapshot; prefix UIDLs with the account name when aggregated. */
int view_build(struct store *st, const struct view_account *accts, size_t n, int aggregated,
    struct view *v_r, const char **error_r);
void view_free(struct view *v);
/* Message number n (1-based) if it exists and is not marked deleted, else NULL. */
struct view_msg *view_get(struct view *v, unsigned long n);
/* Count and total size of the messages not marked deleted. */
void view_stat(const struct view *v, size_t *count_r, int64_t *size_r);
void view_reset(struct view *v);
/* Marks the deleted messages MSG_DELETED in the store, in one transaction. Returns how many. */
int view_commit(struct store *st, struct view *v, const char **error_r);
/* The shown UIDL for an upstream UIDL (70 characters at most, RFC 1939). */
char *view_uidl(const char *account, const char *uidl, int aggregated);

#endif
