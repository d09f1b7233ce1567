/* The store: migrations, users, accounts, messages and streamed bodies. */
#include "store.h"
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int
count_cb(const struct store_message *m __attribute__((unused)), void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

int
main(void)
{
	char dir[] = "/tmp/popgate-test-store.XXXXXX", path[256], spool[256];
	struct store *st = NULL, *st2 = NULL;
	struct store_user u;
	struct store_account a, got;
	struct store_message m;
	struct store_body *b;
	const char *error = NULL;
	char *big, *back;
	int64_t id, id2;
	int fd, n = 0;
	ssize_t r;
	size_t total;

	if (mkdtemp(dir) == NULL)
		return 99;
	snprintf(path, sizeof(path), "%s/popgate.db", dir);
	CHECK(store_open(path, &st, &error) == 0, "store opens and migrates a new database");
	CHECK(store_schema_version(st) >= 1, "schema version recorded");
	store_close(&st);
	CHECK(st == NULL, "store_close clears the pointer");
	CHECK(store_open(path, &st, &error) == 0, "store reopens an existing database");

	CHECK(store_user_add(st, "alice", "$hash", 1, &error) == 0, "user added");
	CHECK(store_user_add(st, "alice", "$hash", 0, &error) == -1 && strstr(error, "already exists"),
	    "duplicate user refused with a clear error");
	CHECK(store_user_get(st, "alice", &u, &error) == 1 && u.admin == 1 && strcmp(u.pwhash, "$hash") == 0,
	    "user read back");
	store_user_clear(&u);
	CHECK(store_user_get(st, "bob", &u, &error) == 0, "unknown user not found");

	memset(&a, 0, sizeof(a));
	a.owner = "alice";
	a.name = "work";
	a.host = "pop.example";
	a.port = 995;
	a.login = "a@example";
	a.secret = (unsigned char *)"\x01sealed";
	a.secret_len = 7;
	a.auth = "auto";
	CHECK(store_account_add(st, &a, &error) == 0 && a.id > 0, "account added");
	CHECK(store_account_add(st, &a, &error) == -1 && strstr(error, "already has"), "duplicate account refused");
	a.owner = "nobody";
	CHECK(store_account_add(st, &a, &error) == -1 && strstr(error, "no user"), "account of unknown user refused");
	CHECK(store_account_get(st, "alice", "work", &got, &error) == 1 && got.port == 995 &&
	    got.secret_len == 7 && memcmp(got.secret, "\x01sealed", 7) == 0 && got.ca_file == NULL,
	    "account read back with its sealed secret");

	/* A 3 MB body streams in and out unchanged. */
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	fd = open(spool, O_RDWR | O_CREAT, 0600);
	total = 3 * 1024 * 1024 + 17;
	big = malloc(total);
	for (size_t i = 0; i < total; i++)
		big[i] = (char)('a' + i % 26);
	CHECK(write(fd, big, total) == (ssize_t)total, "spool written");
	CHECK(store_begin(st, &error) == 0 &&
	    store_message_add(st, got.id, "UID1", fd, (int64_t)total, "x@y", "Hello", "today", &id, &error) == 0 &&
	    store_commit(st, &error) == 0, "message with a 3 MB body committed");
	CHECK(store_message_known(st, got.id, "UID1", &error) == 1, "UIDL known after commit");
	CHECK(store_message_known(st, got.id, "UID2", &error) == 0, "other UIDL unknown");
	CHECK(store_message_get(st, id, &m, &error) == 1 && m.state == MSG_PENDING && m.has_body &&
	    m.size == (int64_t)total, "new message is pending with its body");
	store_message_clear(&m);

	back = malloc(total);
	CHECK(store_body_open(st, id, &b, &error) == 0 && store_body_size(b) == (int64_t)total, "body opens");
	n = 0;
	for (size_t off = 0; (r = store_body_read(b, back + off, 4000)) > 0; off += (size_t)r)
		n++;
	CHECK(memcmp(back, big, total) == 0, "body reads back byte-identical in chunks");
	CHECK(n == (int)((total + 3999) / 4000), "body was read in bounded chunks");
	store_body_close(&b);

	/* A second connection (another thread) sees committed data only. */
	CHECK(store_open(path, &st2, &error) == 0, "second connection opens");
	CHECK(store_begin(st, &error) == 0 &&
	    store_message_add(st, got.id, "UID2", fd, 10, "", "", "", &id2, &error) == 0,
	    "second message inserted inside an open transaction");
	CHECK(store_message_known(st2, got.id, "UID2", &error) == 0, "uncommitted message invisible elsewhere");
	store_rollback(st);
	CHECK(store_message_known(st, got.id, "UID2", &error) == 0, "rolled-back message is gone");

	CHECK(store_message_set_verdict(st, id, MSG_HAM, "ham", 0.01, "[]", "X-Popgate-Verdict: ham\r\n",
	    &error) == 0, "verdict stored");
	n = 0;
	store_message_foreach(st, got.id, MSG_HAM, count_cb, &n, &error);
	CHECK(n == 1, "one ham message listed");
	CHECK(store_message_gone(st, id, &error) == 0, "message marked gone");
	CHECK(store_message_get(st, id, &m, &error) == 1 && m.state == MSG_GONE && !m.has_body,
	    "gone message has no body left");
	store_message_clear(&m);
	CHECK(store_body_open(st, id, &b, &error) == -1, "gone body cannot be opened");

	CHECK(store_list_add(st, "block", "*@spam.example", &error) == 0, "block entry added");
	CHECK(store_list_add(st, "maybe", "x", &error) == -1, "unknown list kind refused");
	CHECK(store_user_del(st, "alice", &error) == 1, "user deleted");
	store_account_clear(&got);
	CHECK(store_account_get(st, "alice", "work", &got, &error) == 0, "accounts deleted with their user");

	store_account_clear(&got);
	store_close(&st);
	store_close(&st2);
	close(fd);
	free(big);
	free(back);
	return test_done();
}
