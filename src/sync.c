#include "sync.h"
#include "account-trust.h"
#include "config.h"
#include "crypto.h"
#include "filter.h"
#include "log.h"
#include "msg-headers.h"
#include "pop3-client.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#define MESSAGE_MAX ((int64_t)256 * 1024 * 1024)

/* Set at shutdown: a sync stops fetching and ends with a clean QUIT. */
static atomic_int shutting_down;
#define CHUNK 65536
#define EXPIRY_EVERY 3600       /* seconds between quarantine expiry runs */

/* ---- one sync ---- */

struct local_msg {
	int64_t id;
	char *uidl;
	int64_t size;
	char *from_addr;
};

struct local_list {
	struct local_msg *v;
	size_t n, cap;
};

static int
collect_local(const struct store_message *m, void *ctx)
{
	struct local_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct local_msg *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].id = m->id;
	l->v[l->n].uidl = strdup(m->uidl);
	l->v[l->n].size = m->size;
	l->v[l->n].from_addr = strdup(m->from_addr ? m->from_addr : "");
	l->n++;
	return 0;
}

static void
local_list_free(struct local_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].uidl);
		free(l->v[i].from_addr);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* An unnamed file in STATE/spool: it vanishes by itself if popgate dies. */
static int
spool_open(const struct config *cf, char *err, size_t errlen)
{
	char *dir = config_state_path(cf, "spool"), *tmpl = NULL;
	int fd;

	if (dir == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1 && asprintf(&tmpl, "%s/msg.XXXXXX", dir) != -1) {
		if ((fd = mkostemp(tmpl, O_CLOEXEC)) != -1)
			unlink(tmpl);
		free(tmpl);
	}
	if (fd == -1)
		snprintf(err, errlen, "cannot create a spool file in %s: %s", dir, strerror(errno));
	free(dir);
	return fd;
}

/* Copies a stored body into the spool file, for classifying a leftover pending message. */
static int
export_body(struct store *st, int64_t id, int fd, int64_t *size_r)
{
	struct store_body *b;
	const char *error;
	char *buf;
	ssize_t n;
	int64_t off = 0;

	if (store_body_open(st, id, &b, &error) == -1)
		return -1;
	if ((buf = malloc(CHUNK)) == NULL || ftruncate(fd, 0) == -1) {
		free(buf);
		store_body_close(&b);
		return -1;
	}
	while ((n = store_body_read(b, buf, CHUNK)) > 0) {
		if (pwrite(fd, buf, (size_t)n, off) != n) {
			n = -1;
			break;
		}
		off += n;
	}
	free(buf);
	store_body_close(&b);
	*size_r = off;
	return n < 0 ? -1 : 0;
}

static int
classify(struct store *st, const struct store_account *a, int64_t id, int fd, int64_t size,
    const char *from_addr, char *err, size_t errlen)
{
	struct filter_input in;
	struct filter_verdict v;
	char account[200];
	const char *error;
	int rc;

	snprintf(account, sizeof(account), "%s/%s", a->owner, a->name);
	memset(&in, 0, sizeof(in));
	in.account_id = a->id;
	in.account = account;
	in.fd = fd;
	in.size = size;
	in.from_addr = from_addr;
	if (filter_classify(st, &in, &v, &error) == -1) {
		snprintf(err, errlen, "classifying message %lld: %s", (long long)id, error);
		return -1;
	}
	rc = store_message_set_verdict(st, id, v.state, v.verdict, v.score, v.reasons, v.added_headers, &error);
	if (rc == 0 && v.subject_prefix != NULL)
		rc = store_message_set_subject_prefix(st, id, v.subject_prefix, &error);
	if (rc == -1)
		snprintf(err, errlen, "storing the verdict of message %lld: %s", (long long)id, error);
	filter_verdict_clear(&v);
	return rc;
}

static int
fetch_new(struct store *st, const struct store_account *a, struct pop3c *c, const struct pop3c_msg *um,
    int fd, char *err, size_t errlen)
{
	struct msg_headers h;
	const char *error;
	int64_t size, id;

	if (ftruncate(fd, 0) == -1 || lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "spool: %s", strerror(errno));
		return -1;
	}
	if (pop3c_retr(c, um->num, fd, MESSAGE_MAX, &size, err, errlen) == -1) {
		/* Too big to take: it stays upstream, untouched, and the rest goes on. */
		if (pop3c_last_failure(c)->code == POP3C_TOO_BIG)
			return 2;
		return -1;
	}
	if (msg_headers_read(fd, &h) == -1) {
		snprintf(err, errlen, "out of memory reading headers");
		return -1;
	}
	/* The body is committed before anything else may happen to this message. */
	if (store_begin(st, &error) == -1 ||
	    store_message_add(st, a->id, um->uidl, fd, size, h.from_addr, h.subject, h.date, &id, &error) == -1 ||
	    store_commit(st, &error) == -1) {
		store_rollback(st);
		snprintf(err, errlen, "storing message %s: %s", um->uidl, error);
		msg_headers_clear(&h);
		return -1;
	}
	if (classify(st, a, id, fd, size, h.from_addr, err, errlen) == -1) {
		/* Stays pending: hidden, and classified by the next sync. */
		msg_headers_clear(&h);
		return 1;
	}
	msg_headers_clear(&h);
	return 0;
}

static const struct pop3c_msg *
find_upstream(const struct pop3c_msg *msgs, size_t n, const char *uidl)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(msgs[i].uidl, uidl) == 0)
			return &msgs[i];
	}
	return NULL;
}

static int
cmp_uidl(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The record of a gone message keeps it from being fetched again while its
 * UIDL is upstream (a quarantined spam deleted here only); once the UIDL is
 * gone upstream too, the record has done its job. msgs is the whole UIDL
 * list of a session that ended with a successful QUIT.
 */
static int
forget_gone(struct store *st, int64_t account_id, const struct pop3c_msg *msgs, size_t n, unsigned *count_r,
    const char **error_r)
{
	struct local_list gone = { 0 };
	const char **up = NULL;
	int rc = -1;

	*count_r = 0;
	if (store_message_foreach(st, account_id, MSG_GONE, collect_local, &gone, error_r) == -1)
		goto out;
	if (gone.n == 0) {
		rc = 0;
		goto out;
	}
	if ((up = calloc(n + 1, sizeof(*up))) == NULL) {
		*error_r = "out of memory";
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		up[i] = msgs[i].uidl;
	qsort(up, n, sizeof(*up), cmp_uidl);
	for (size_t i = 0; i < gone.n; i++) {
		const char *key = gone.v[i].uidl;

		if (key == NULL || (n > 0 && bsearch(&key, up, n, sizeof(*up), cmp_uidl) != NULL))
			continue;
		if (store_message_forget(st, gone.v[i].id, error_r) == -1)
			goto out;
		(*count_r)++;
	}
	rc = 0;
out:
	free(up);
	local_list_free(&gone);
	return rc;
}

int
sync_account(struct store *st, const struct config *cf, struct crypto_box *box, int64_t account_id,
    struct sync_result *res_r, char *err, size_t errlen)
{
	struct store_account a;
	struct account_trust trust;
	struct pop3c_failure fail;
	struct pop3c_params p;
	struct pop3c *c = NULL;
	struct pop3c_msg *msgs = NULL;
	struct local_list dele = { 0 }, pending = { 0 };
	int64_t *deleted_ids = NULL;
	size_t n = 0, ndel = 0;
	unsigned forgotten;
	char *password = NULL;
	const char *error;
	char note[256];
	int fd = -1, rc = -1, found;

	memset(res_r, 0, sizeof(*res_r));
	memset(&trust, 0, sizeof(trust));
	if ((found = store_account_get_id(st, account_id, &a, &error)) != 1) {
		snprintf(err, errlen, "%s", found == 0 ? "no such account" : error);
		return -1;
	}
	if (crypto_box_unseal(box, a.secret, a.secret_len, &password) == -1) {
		snprintf(err, errlen, "cannot decrypt the account password (was secret.key replaced?)");
		goto out;
	}
	if ((fd = spool_open(cf, err, errlen)) == -1)
		goto out;

	/* Leftovers of an interrupted sync: classify them first. */
	if (store_message_foreach(st, a.id, MSG_PENDING, collect_local, &pending, &error) == -1) {
		snprintf(err, errlen, "%s", error);
		goto out;
	}
	for (size_t i = 0; i < pending.n; i++) {
		int64_t size;
		if (export_body(st, pending.v[i].id, fd, &size) == 0 &&
		    classify(st, &a, pending.v[i].id, fd, size, pending.v[i].from_addr, err, errlen) == 0)
			res_r->classified++;
	}

	/* Exactly the trust the account names: its store, pins, TLS versions. */
	if (account_trust_load(st, cf, &a, &trust, err, errlen) != 0)
		goto out;
	account_pop3c_params(&a, password, cf->sync_timeout * 1000, &trust, &p);
	if (pop3c_connect(&p, &c, &fail, NULL) == -1) {
		snprintf(err, errlen, "%s: %s", account_trust_code(fail.stage, fail.code), fail.detail);
		if (account_trust_done(st, &trust, &fail, 0, note, sizeof(note), err, errlen) == 0 &&
		    note[0] != '\0')
			snprintf(err + strlen(err), errlen - strlen(err), " (%s)", note);
		goto out;
	}
	if (account_trust_done(st, &trust, NULL, 1, note, sizeof(note), err, errlen) == -1)
		goto out;
	if (note[0] != '\0')
		log_info("sync", "account %s/%s: %s", a.owner, a.name, note);
	if (trust.s.insecure)
		log_warnx("sync", "account %s/%s is INSECURE: its server certificate is not checked",
		    a.owner, a.name);
	if (pop3c_uidl(c, &msgs, &n, err, errlen) == -1)
		goto out;
	res_r->upstream = (int)n;

	/* Deletions the clients asked for; they take effect at QUIT. */
	if (store_message_foreach(st, a.id, MSG_DELETED, collect_local, &dele, &error) == -1) {
		snprintf(err, errlen, "%s", error);
		goto out;
	}
	if (dele.n > 0 && (deleted_ids = calloc(dele.n, sizeof(*deleted_ids))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < dele.n; i++) {
		const struct pop3c_msg *um = find_upstream(msgs, n, dele.v[i].uidl);
		if (um == NULL) {
			/* Already gone upstream (an earlier QUIT, or another client). */
			if (store_message_gone(st, dele.v[i].id, &error) == -1) {
				snprintf(err, errlen, "%s", error);
				goto out;
			}
			continue;
		}
		if (pop3c_dele(c, um->num, err, errlen) == -1)
			goto out;
		deleted_ids[ndel++] = dele.v[i].id;
	}

	for (size_t i = 0; i < n && !atomic_load(&shutting_down); i++) {
		int known = store_message_known(st, a.id, msgs[i].uidl, &error);
		if (known == -1) {
			snprintf(err, errlen, "%s", error);
			goto out;
		}
		if (known)
			continue;
		switch (fetch_new(st, &a, c, &msgs[i], fd, err, errlen)) {
		case -1:
			goto out;
		case 2:
			res_r->skipped++;
			continue;
		case 0:
			res_r->classified++;
			/* FALLTHROUGH */
		default:
			res_r->fetched++;
		}
	}

	if (pop3c_quit(c, err, errlen) == -1)
		goto out;
	/* QUIT succeeded: the upstream deletions are real now. */
	for (size_t i = 0; i < ndel; i++) {
		if (store_message_gone(st, deleted_ids[i], &error) == -1) {
			snprintf(err, errlen, "%s", error);
			goto out;
		}
		res_r->deleted++;
	}
	if (forget_gone(st, a.id, msgs, n, &forgotten, &error) == -1) {
		snprintf(err, errlen, "%s", error);
		goto out;
	}
	if (forgotten > 0)
		log_debug("sync", "account %s/%s: %u records of mail gone upstream forgotten", a.owner, a.name,
		    forgotten);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(deleted_ids);
	local_list_free(&dele);
	local_list_free(&pending);
	pop3c_msgs_free(&msgs, n);
	pop3c_free(&c);
	if (password != NULL) {
		crypto_wipe(password, strlen(password));
		free(password);
	}
	account_trust_clear(&trust);
	store_account_clear(&a);
	return rc;
}

/* ---- the scheduler ---- */

struct slot {
	int64_t id;
	unsigned long requested, started, done;
	int queued, running;
	struct slot *next_all, *next_queue;
};

struct sync {
	const struct config *cf;
	struct crypto_box *box;
	pthread_mutex_t lock;
	pthread_cond_t work, done, tick;
	struct slot *all;
	struct slot *qhead, *qtail;
	pthread_t *workers;
	int nworkers;
	pthread_t timer;
	int timer_started;
	int stopping;
};

static struct slot *
slot_get(struct sync *s, int64_t id)
{
	struct slot *sl;

	for (sl = s->all; sl != NULL; sl = sl->next_all) {
		if (sl->id == id)
			return sl;
	}
	if ((sl = calloc(1, sizeof(*sl))) == NULL)
		return NULL;
	sl->id = id;
	sl->next_all = s->all;
	s->all = sl;
	return sl;
}

static void
enqueue(struct sync *s, struct slot *sl)
{
	if (sl->queued || sl->running)
		return;
	sl->queued = 1;
	sl->next_queue = NULL;
	if (s->qtail != NULL)
		s->qtail->next_queue = sl;
	else
		s->qhead = sl;
	s->qtail = sl;
	pthread_cond_signal(&s->work);
}

/* Called with the lock held; returns the target generation or 0. */
static unsigned long
request_locked(struct sync *s, int64_t id)
{
	struct slot *sl = slot_get(s, id);

	if (sl == NULL)
		return 0;
	sl->requested++;
	enqueue(s, sl);
	return sl->requested;
}

void
sync_request(struct sync *s, int64_t account_id)
{
	pthread_mutex_lock(&s->lock);
	request_locked(s, account_id);
	pthread_mutex_unlock(&s->lock);
}

size_t
sync_wait(struct sync *s, const int64_t *ids, size_t n, int timeout_ms)
{
	unsigned long target[64];
	struct timespec ts;
	size_t done = 0;

	if (n > 64)
		n = 64;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++)
		target[i] = request_locked(s, ids[i]);
	for (;;) {
		done = 0;
		for (size_t i = 0; i < n; i++) {
			struct slot *sl = slot_get(s, ids[i]);
			if (sl == NULL || target[i] == 0 || sl->done >= target[i])
				done++;
		}
		if (done == n || s->stopping)
			break;
		if (pthread_cond_timedwait(&s->done, &s->lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	return done;
}

static void *
worker_thread(void *arg)
{
	struct sync *s = arg;
	struct store *st = NULL;
	struct sync_result res;
	struct slot *sl;
	char err[512], ctx[32], *db;
	const char *error;

	if ((db = config_state_path(s->cf, "popgate.db")) == NULL || store_open(db, &st, &error) == -1) {
		log_error("sync", "cannot open the store: %s", db ? error : "out of memory");
		free(db);
		return NULL;
	}
	free(db);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->qhead == NULL && !s->stopping)
			pthread_cond_wait(&s->work, &s->lock);
		if (s->stopping)
			break;
		sl = s->qhead;
		s->qhead = sl->next_queue;
		if (s->qhead == NULL)
			s->qtail = NULL;
		sl->queued = 0;
		sl->running = 1;
		sl->started = sl->requested;
		pthread_mutex_unlock(&s->lock);

		snprintf(ctx, sizeof(ctx), "sync:%lld", (long long)sl->id);
		if (sync_account(st, s->cf, s->box, sl->id, &res, err, sizeof(err)) == -1)
			log_warnx(ctx, "sync failed: %s", err);
		else if (res.fetched || res.deleted || res.classified)
			log_info(ctx, "%d new, %d classified, %d deleted upstream, %d upstream",
			    res.fetched, res.classified, res.deleted, res.upstream);
		if (res.skipped > 0)
			log_warnx(ctx, "%d messages larger than %lld MB left upstream", res.skipped,
			    (long long)(MESSAGE_MAX >> 20));
		else
			log_debug(ctx, "nothing new (%d upstream)", res.upstream);

		pthread_mutex_lock(&s->lock);
		sl->running = 0;
		sl->done = sl->started;
		if (sl->requested > sl->started)
			enqueue(s, sl);
		pthread_cond_broadcast(&s->done);
	}
	pthread_mutex_unlock(&s->lock);
	store_close(&st);
	return NULL;
}

struct ids {
	int64_t *v;
	size_t n, cap;
};

static int
collect_id(const struct store_account *a, void *ctx)
{
	struct ids *ids = ctx;

	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 16;
		int64_t *v = realloc(ids->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = a->id;
	return 0;
}

/* Every interval, a sync of every account (the first one right away). */
static void *
timer_thread(void *arg)
{
	struct sync *s = arg;
	struct store *st = NULL;
	struct timespec ts;
	const char *error;
	time_t last_expiry = 0;
	char *db;

	if ((db = config_state_path(s->cf, "popgate.db")) == NULL || store_open(db, &st, &error) == -1) {
		log_error("sync", "timer cannot open the store: %s", db ? error : "out of memory");
		free(db);
		return NULL;
	}
	free(db);
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct ids ids = { 0 };
		time_t now = time(NULL);
		unsigned expired;

		pthread_mutex_unlock(&s->lock);
		if (store_account_foreach(st, NULL, collect_id, &ids, &error) == -1)
			log_warnx("sync", "listing accounts: %s", error);
		/* Quarantine and token expiry ride on the same clock, at most once an hour. */
		if (now - last_expiry >= EXPIRY_EVERY) {
			last_expiry = now;
			if (filter_quarantine_expire(st, (int64_t)now, &expired, &error) == -1)
				log_warnx("sync", "quarantine expiry: %s", error);
			else if (expired > 0)
				log_info("sync", "%u quarantined messages expired", expired);
			if (filter_token_expire(st, (int64_t)now, &expired, &error) == -1)
				log_warnx("sync", "token expiry: %s", error);
			else if (expired > 0)
				log_info("sync", "%u Bayes tokens of single messages expired", expired);
		}
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < ids.n; i++)
			request_locked(s, ids.v[i]);
		free(ids.v);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += s->cf->sync_interval;
		while (!s->stopping && pthread_cond_timedwait(&s->tick, &s->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&s->lock);
	store_close(&st);
	return NULL;
}

int
sync_start(const struct config *cf, struct crypto_box *box, struct sync **s_r, const char **error_r)
{
	struct sync *s;

	*s_r = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->workers = calloc((size_t)cf->sync_workers, sizeof(pthread_t))) == NULL) {
		free(s);
		*error_r = "out of memory";
		return -1;
	}
	s->cf = cf;
	s->box = box;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->done, NULL);
	pthread_cond_init(&s->tick, NULL);
	for (int i = 0; i < cf->sync_workers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_thread, s) != 0) {
			*error_r = "cannot start sync workers";
			sync_stop(&s);
			return -1;
		}
		s->nworkers++;
	}
	if (pthread_create(&s->timer, NULL, timer_thread, s) != 0) {
		*error_r = "cannot start the sync timer";
		sync_stop(&s);
		return -1;
	}
	s->timer_started = 1;
	*s_r = s;
	return 0;
}

void
sync_stop(struct sync **sp)
{
	struct sync *s = *sp;
	struct slot *sl, *next;

	if (s == NULL)
		return;
	atomic_store(&shutting_down, 1);
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->tick);
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
	/* A running sync finishes its current step within [sync] timeout. */
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	if (s->timer_started)
		pthread_join(s->timer, NULL);
	for (sl = s->all; sl != NULL; sl = next) {
		next = sl->next_all;
		free(sl);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->tick);
	free(s->workers);
	free(s);
	*sp = NULL;
}
