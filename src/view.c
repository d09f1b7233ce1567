#include "view.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define UIDL_MAX 70

char *
view_uidl(const char *account, const char *uidl, int aggregated)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char *out, hex[33];

	if (!aggregated)
		return strdup(uidl);
	if (asprintf(&out, "%s:%s", account, uidl) == -1)
		return NULL;
	if (strlen(out) <= UIDL_MAX)
		return out;
	/* Too long with the prefix: a stable digest keeps it unique and short. */
	free(out);
	if (EVP_Digest(uidl, strlen(uidl), md, &mdlen, EVP_sha256(), NULL) != 1)
		return NULL;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (asprintf(&out, "%.*s:%s", UIDL_MAX - 33, account, hex) == -1)
		return NULL;
	return out;
}

struct build_ctx {
	struct view *v;
	size_t cap;
	const char *account;
	int aggregated;
	int failed;
};

static int
add_msg(const struct store_message *m, void *ctx)
{
	struct build_ctx *b = ctx;
	struct view_msg *vm;

	if (m->state != MSG_HAM && m->state != MSG_RELEASED)
		return 0;
	if (!m->has_body)
		return 0;
	if (b->v->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct view_msg *n = realloc(b->v->msgs, cap * sizeof(*n));
		if (n == NULL) {
			b->failed = 1;
			return -1;
		}
		b->v->msgs = n;
		b->cap = cap;
	}
	vm = &b->v->msgs[b->v->count];
	memset(vm, 0, sizeof(*vm));
	vm->id = m->id;
	vm->account_id = m->account_id;
	vm->uidl = view_uidl(b->account, m->uidl, b->aggregated);
	vm->added_headers = strdup(m->added_headers ? m->added_headers : "");
	vm->subject_prefix = strdup(m->subject_prefix ? m->subject_prefix : "");
	if (vm->uidl == NULL || vm->added_headers == NULL || vm->subject_prefix == NULL) {
		free(vm->uidl);
		free(vm->added_headers);
		free(vm->subject_prefix);
		b->failed = 1;
		return -1;
	}
	vm->size = m->size + (int64_t)strlen(vm->added_headers);
	if (vm->subject_prefix[0] != '\0')
		vm->size += 1 + (int64_t)strlen(vm->subject_prefix);	/* "Subject:" + " PREFIX" */
	b->v->count++;
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	const struct view_msg *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int
view_build(struct store *st, const struct view_account *accts, size_t n, int aggregated,
    struct view *v_r, const char **error_r)
{
	struct build_ctx b = { v_r, 0, NULL, aggregated, 0 };

	memset(v_r, 0, sizeof(*v_r));
	for (size_t i = 0; i < n; i++) {
		b.account = accts[i].name;
		if (store_message_foreach(st, accts[i].id, -1, add_msg, &b, error_r) != 0 || b.failed) {
			if (b.failed)
				*error_r = "out of memory";
			view_free(v_r);
			return -1;
		}
	}
	/* Arrival order across accounts. */
	if (v_r->count > 1)
		qsort(v_r->msgs, v_r->count, sizeof(v_r->msgs[0]), cmp_id);
	return 0;
}

void
view_free(struct view *v)
{
	for (size_t i = 0; i < v->count; i++) {
		free(v->msgs[i].uidl);
		free(v->msgs[i].added_headers);
		free(v->msgs[i].subject_prefix);
	}
	free(v->msgs);
	memset(v, 0, sizeof(*v));
}

struct view_msg *
view_get(struct view *v, unsigned long n)
{
	if (n < 1 || n > v->count || v->msgs[n - 1].deleted)
		return NULL;
	return &v->msgs[n - 1];
}

void
view_stat(const struct view *v, size_t *count_r, int64_t *size_r)
{
	*count_r = 0;
	*size_r = 0;
	for (size_t i = 0; i < v->count; i++) {
		if (v->msgs[i].deleted)
			continue;
		(*count_r)++;
		*size_r += v->msgs[i].size;
	}
}

void
view_reset(struct view *v)
{
	for (size_t i = 0; i < v->count; i++)
		v->msgs[i].deleted = 0;
}

int
view_commit(struct store *st, struct view *v, const char **error_r)
{
	int n = 0;

	if (store_begin(st, error_r) == -1)
		return -1;
	for (size_t i = 0; i < v->count; i++) {
		if (!v->msgs[i].deleted)
			continue;
		if (store_message_set_state(st, v->msgs[i].id, MSG_DELETED, error_r) == -1) {
			store_rollback(st);
			return -1;
		}
		n++;
	}
	if (store_commit(st, error_r) == -1) {
		store_rollback(st);
		return -1;
	}
	return n;
}
