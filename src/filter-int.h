/*
 * filter-int.h: shared between filter.c and filter-quarantine.c only.
 */
#ifndef POPGATE_FILTER_INT_H
#define POPGATE_FILTER_INT_H

#include <sqlite3.h>

struct bayes;

/* Locks the process's Bayes working set and refreshes it against db. */
struct bayes *filter_bayes_lock(sqlite3 *db, const char **error_r);
void filter_bayes_unlock(void);

#endif
