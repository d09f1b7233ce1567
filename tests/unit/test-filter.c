/*
 * test-filter: filter_classify() as sync calls it, on a real store: the
 * verdict, the account policy (quarantine or tag), the headers a client
 * will see, the sender lists overriding the classifier, and a 20 MB message.
 */
#include "bayes.h"
#include "filter.h"
#include "store.h"
#include "tokenize.h"
#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static char dir[] = "/tmp/test-filter-XXXXXX";
static struct store *st;

static const char *spam_words[] = { "viagra", "casino", "jackpot", "winner", "pills", "lottery", NULL };
static const char *ham_words[] = { "meeting", "agenda", "patch", "review", "kernel", "minutes", NULL };

static char *
message(const char *from, const char *subject, const char **words, int seed)
{
	char *m = NULL, body[2048] = "";

	for (int k = 0; k < 30; k++) {
		strcat(body, words[(seed + k) % 6]);
		strcat(body, " ");
	}
	if (asprintf(&m, "From: %s\r\nTo: user@example.org\r\nSubject: %s\r\nMessage-ID: <%d@x>\r\n"
	    "Content-Type: text/plain\r\n\r\n%s\r\n", from, subject, seed, body) == -1)
		return NULL;
	return m;
}

static int
spool(const char *text, size_t len)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/spool", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unlink(path);
	if (fd != -1 && write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
classify(const char *text, size_t len, const char *from, struct filter_verdict *v)
{
	struct filter_input in;
	const char *error = NULL;
	int fd = spool(text, len), rc;

	memset(&in, 0, sizeof(in));
	in.account_id = 1;
	in.account = "alice/mail";
	in.fd = fd;
	in.size = (int64_t)len;
	in.from_addr = from;
	rc = filter_classify(st, &in, v, &error);
	if (rc == -1)
		printf("# filter_classify: %s\n", error);
	close(fd);
	return rc;
}

static void
train(void)
{
	struct bayes *b = bayes_new();
	struct tokset *ts = tokenize_set_new(0);
	const char *error;

	for (int i = 0; i < 20; i++) {
		char *s = message("promo@casino.example", "WIN NOW", spam_words, i);
		char *h = message("alice@work.example", "Weekly meeting", ham_words, i);

		tokenize_set_clear(ts);
		tokenize_mem(ts, NULL, s, strlen(s), &error);
		bayes_learn(b, ts, 1, 1);
		tokenize_set_clear(ts);
		tokenize_mem(ts, NULL, h, strlen(h), &error);
		bayes_learn(b, ts, 0, 1);
		free(s);
		free(h);
	}
	CHECK(bayes_flush(b, store_db(st), &error) == 0, "trained 20 spam and 20 ham");
	bayes_free(&b);
	tokenize_set_free(&ts);
}

static int
reasons_have(const char *json, const char *key, const char *value)
{
	json_t *a = json_loads(json, 0, NULL), *r;
	size_t i;
	int found = 0;

	json_array_foreach(a, i, r) {
		const char *v = json_string_value(json_object_get(r, key));

		if (v != NULL && (value == NULL || strcmp(v, value) == 0))
			found = 1;
	}
	json_decref(a);
	return found;
}

int
main(void)
{
	struct filter_verdict v;
	const char *error = NULL;
	char path[300], *spam, *ham, *unknown, *big;
	size_t biglen = 20 * 1024 * 1024;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/popgate.db", dir);
	CHECK(store_open(path, &st, &error) == 0, "store opens");
	CHECK(sqlite3_exec(store_db(st), "INSERT INTO users (id, name, pwhash) VALUES (1, 'alice', 'x');"
	    "INSERT INTO accounts (id, owner_id, name, host, port, tls, login, secret) "
	    "VALUES (1, 1, 'mail', 'pop.example', 995, 'implicit', 'alice', x'00')", NULL, NULL, NULL) == SQLITE_OK,
	    "account added");
	spam = message("promo@casino.example", "WIN NOW", spam_words, 77);
	ham = message("alice@work.example", "Weekly meeting", ham_words, 77);
	unknown = strdup("From: x@y.example\r\nSubject: zzq\r\n\r\nquux frobnitz wibble\r\n");

	/* untrained: Bayes abstains, mail is delivered untagged */
	CHECK(classify(spam, strlen(spam), "promo@casino.example", &v) == 0 && v.state == MSG_HAM &&
	    strcmp(v.verdict, "ham") == 0 && v.score == 0.0 && strstr(v.added_headers, "X-Spam-") == NULL &&
	    strcmp(v.added_headers, "X-Popgate-Verdict: ham; score=0.0000\r\n") == 0 &&
	    strstr(v.reasons, "untrained") != NULL, "untrained filter abstains: ham, untagged");
	filter_verdict_clear(&v);
	train();

	/* default policy: quarantine */
	CHECK(classify(spam, strlen(spam), "promo@casino.example", &v) == 0, "spam classified");
	CHECK(v.state == MSG_SPAM && strcmp(v.verdict, "spam") == 0 && v.score >= 0.8,
	    "spam is quarantined (%s %.4f)", v.verdict, v.score);
	CHECK(strstr(v.added_headers, "X-Spam-Flag: YES\r\n") != NULL &&
	    strstr(v.added_headers, "X-Spam-Status: Yes, score=") != NULL &&
	    strstr(v.added_headers, "X-Popgate-Verdict: spam; score=") != NULL &&
	    strstr(v.added_headers, "X-Spam-Score: ") != NULL, "spam headers X-Spam-Flag, X-Spam-Status, X-Spam-Score, X-Popgate-Verdict");
	CHECK(reasons_have(v.reasons, "token", "jackpot"), "the reasons name a spam token");
	filter_verdict_clear(&v);

	CHECK(classify(ham, strlen(ham), "alice@work.example", &v) == 0, "ham classified");
	CHECK(v.state == MSG_HAM && strcmp(v.verdict, "ham") == 0 && v.score < 0.3, "ham delivered (%.4f)",
	    v.score);
	CHECK(strncmp(v.added_headers, "X-Popgate-Verdict: ham; score=", 30) == 0 &&
	    strstr(v.added_headers, "X-Spam-") == NULL, "ham is not tagged");
	filter_verdict_clear(&v);

	CHECK(classify(unknown, strlen(unknown), "x@y.example", &v) == 0, "unknown words classified");
	CHECK(v.state == MSG_HAM && strcmp(v.verdict, "unsure") == 0, "unsure is delivered (%s %.4f)", v.verdict,
	    v.score);
	CHECK(strstr(v.added_headers, "X-Spam-Flag: NO\r\n") != NULL &&
	    strstr(v.added_headers, "tests=POPGATE_UNSURE") != NULL, "unsure is tagged, not flagged");
	filter_verdict_clear(&v);

	/* tag policy: spam is delivered, flagged */
	sqlite3_exec(store_db(st), "UPDATE accounts SET spam_policy = 'tag'", NULL, NULL, NULL);
	CHECK(classify(spam, strlen(spam), "promo@casino.example", &v) == 0 && v.state == MSG_HAM &&
	    strcmp(v.verdict, "spam") == 0 && strstr(v.added_headers, "X-Spam-Flag: YES") != NULL,
	    "tag policy delivers spam with X-Spam-Flag: YES");
	filter_verdict_clear(&v);
	sqlite3_exec(store_db(st), "UPDATE accounts SET spam_policy = 'quarantine'", NULL, NULL, NULL);

	/* lists beat the classifier */
	store_list_add(st, "allow", "*@casino.example", &error);
	CHECK(classify(spam, strlen(spam), "promo@casino.example", &v) == 0 && v.state == MSG_HAM &&
	    v.score == 0.0 && reasons_have(v.reasons, "rule", "allow_list"), "allow list makes spam ham");
	filter_verdict_clear(&v);
	store_list_add(st, "block", "alice@work.example", &error);
	CHECK(classify(ham, strlen(ham), "alice@work.example", &v) == 0 && v.state == MSG_SPAM &&
	    v.score == 1.0 && reasons_have(v.reasons, "rule", "block_list"), "block list quarantines ham");
	filter_verdict_clear(&v);

	/* a 20 MB message: parsed with capped text, classified */
	if ((big = malloc(biglen + 1)) != NULL) {
		size_t hl = (size_t)snprintf(big, biglen, "From: a@b.example\r\nSubject: big\r\n\r\n");

		for (size_t i = hl; i < biglen; i++)
			big[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i * 7) % 26);
		CHECK(classify(big, biglen, "a@b.example", &v) == 0 && v.reasons != NULL, "20 MB message classified");
		filter_verdict_clear(&v);
		free(big);
	}

	free(spam);
	free(ham);
	free(unknown);
	filter_shutdown();
	store_close(&st);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("# cleanup failed\n");
	return test_done();
}
