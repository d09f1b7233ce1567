/* Configuration errors, password hashes, the secret box, the filter's patterns, shown UIDLs. */
#include "config.h"
#include "crypto.h"
#include "filter.h"
#include "msg-headers.h"
#include "view.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct config *
load(const char *text, char *err, size_t errlen)
{
	FILE *fp = fopen("/tmp/popgate-test-core.ini", "w");

	fputs(text, fp);
	fclose(fp);
	return config_load("/tmp/popgate-test-core.ini", err, errlen);
}

int
main(void)
{
	char err[512], *hash, *plain, keypath[] = "/tmp/popgate-test-core-key.XXXXXX";
	struct config *cf;
	struct crypto_box *box, *box2;
	struct msg_headers h;
	unsigned char *sealed;
	size_t sealed_len;
	const char *error;
	char *u;
	int fd;

	cf = config_load(NULL, err, sizeof(err));
	CHECK(cf != NULL && cf->pop3_listen_count == 1 && strcmp(cf->pop3_listen[0], "127.0.0.1:1110") == 0 &&
	    strcmp(cf->pop3_listen_tls[0], "127.0.0.1:1995") == 0, "defaults listen on loopback 1110 and 1995");
	CHECK(cf != NULL && strstr(cf->state_dir, "/var") != NULL && cf->state_dir[0] == '/',
	    "default state_dir is ./var made absolute");
	config_free(&cf);

	cf = load("[general]\nstate_dir = /tmp/x\n[pop3]\nlisten = 127.0.0.1:2110\nlisten = [::1]:2110\n"
	    "max_sessions = 5\n[sync]\ninterval = 30\nlogin_wait = 3\n[dns]\nmode = system\n", err, sizeof(err));
	CHECK(cf != NULL && cf->pop3_listen_count == 2 && cf->max_sessions == 5 && cf->sync_interval == 30 &&
	    cf->login_wait == 3, "a full file is read");
	CHECK(cf != NULL && strcmp(cf->pop3_cert, "/tmp/x/popgate-cert.pem") == 0, "cert defaults into state_dir");
	config_free(&cf);

	cf = load("[general]\nstate_dir = /tmp/x\n\n[pop3]\nlistne = 1\n", err, sizeof(err));
	CHECK(cf == NULL && strstr(err, ":5: unknown key \"listne\" in [pop3]") != NULL,
	    "unknown key reported with its line: %s", err);
	cf = load("[pop3]\nmax_sessions = lots\n", err, sizeof(err));
	CHECK(cf == NULL && strstr(err, ":2: max_sessions") != NULL, "bad number reported with its line");
	cf = load("[nope]\nx = 1\n", err, sizeof(err));
	CHECK(cf == NULL && strstr(err, ":2: unknown section [nope]") != NULL, "unknown section reported");
	cf = load("[pop3]\nlisten = localhost\n", err, sizeof(err));
	CHECK(cf == NULL && strstr(err, "HOST:PORT") != NULL, "listen without port refused");
	cf = load("[dns]\nmode = doh\n", err, sizeof(err));
	CHECK(cf != NULL && cf->doh_url_count == 2 && cf->dns_bootstrap_count == 2,
	    "doh without a URL uses the embedded DoH servers");
	config_free(&cf);
	cf = load("[dns]\nmode = doh\ndoh_url = http://plain.example/dns-query\n", err, sizeof(err));
	CHECK(cf == NULL && strstr(err, "doh_url") != NULL, "doh_url without https refused");
	cf = load("[dns]\nmode = doh\ndoh_url = https://doh.example/dns-query\n", err, sizeof(err));
	CHECK(cf == NULL && strstr(err, "host doh.example has no bootstrap entry (bootstrap = doh.example:443:") != NULL,
	    "check-config refuses a DoH host without bootstrap: %s", err);
	cf = load("[dns]\nmode = doh\nbootstrap = doh.example:8443:127.0.0.1\ndoh_url = https://doh.example:8443/q\n",
	    err, sizeof(err));
	CHECK(cf != NULL, "bootstrap before or after the doh_url counts");
	config_free(&cf);
	cf = load("[dns]\nmode = system\ndoh_url = https://doh.example/dns-query\n", err, sizeof(err));
	CHECK(cf != NULL, "a doh_url is not checked while mode = system");
	config_free(&cf);
	cf = load("this is not ini\n", err, sizeof(err));
	CHECK(cf == NULL && strstr(err, ":1:") != NULL, "garbage reported at line 1");

	hash = crypto_password_hash("correct horse");
	CHECK(hash != NULL && strncmp(hash, "$scrypt$", 8) == 0, "password hashed with scrypt");
	CHECK(crypto_password_verify("correct horse", hash) == 1, "right password verifies");
	CHECK(crypto_password_verify("correct horsf", hash) == 0, "wrong password fails");
	CHECK(crypto_password_verify("x", "$md5$nope") == -1, "malformed hash is an error");
	free(hash);

	fd = mkstemp(keypath);
	close(fd);
	unlink(keypath);
	CHECK(crypto_box_open(keypath, &box, &error) == 0, "secret key created on first use");
	{
		struct stat sb;
		CHECK(stat(keypath, &sb) == 0 && (sb.st_mode & 0777) == 0600, "key file is mode 0600");
	}
	CHECK(crypto_box_seal(box, "upstream-pw", 11, &sealed, &sealed_len) == 0 && sealed_len > 11 &&
	    memmem(sealed, sealed_len, "upstream-pw", 11) == NULL, "sealed secret holds no plaintext");
	CHECK(crypto_box_open(keypath, &box2, &error) == 0 &&
	    crypto_box_unseal(box2, sealed, sealed_len, &plain) == 0 && strcmp(plain, "upstream-pw") == 0,
	    "secret unseals with the key read back from disk");
	free(plain);
	sealed[sealed_len - 1] ^= 1;
	CHECK(crypto_box_unseal(box2, sealed, sealed_len, &plain) == -1, "tampered secret refused");
	chmod(keypath, 0644);
	crypto_box_free(&box2);
	CHECK(crypto_box_open(keypath, &box2, &error) == -1 && strstr(error, "readable by others"),
	    "key readable by others refused");
	free(sealed);
	crypto_box_free(&box);
	unlink(keypath);

	CHECK(filter_pattern_match("*@spam.example", "bob@SPAM.example"), "wildcard domain matches, any case");
	CHECK(!filter_pattern_match("*@spam.example", "bob@spam.example.org"), "suffix does not match");
	CHECK(filter_pattern_match("bob@x.org", "bob@x.org"), "exact address matches");

	msg_headers_init();
	{
		const char *msg = "Received: x\r\nFrom: =?UTF-8?B?SsO8cmdlbg==?= <Juergen@Example.ORG>\r\n"
		    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n folded\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n\r\n"
		    "From: not@header\r\n";
		CHECK(msg_headers_parse(msg, strlen(msg), &h) == 0, "headers parsed");
		CHECK_STR(h.from_addr, "juergen@example.org", "From address lower-cased");
		CHECK_STR(h.from_name, "J\xc3\xbcrgen", "From name decoded from RFC 2047");
		CHECK_STR(h.subject, "Gr\xc3\xbc\xc3\x9f" "e folded", "Subject decoded and unfolded");
		msg_headers_clear(&h);
		CHECK(msg_headers_parse("no headers", 10, &h) == 0 && strcmp(h.from_addr, "") == 0,
		    "message without headers gives empty fields");
		msg_headers_clear(&h);
	}

	u = view_uidl("work", "00000001abc", 0);
	CHECK_STR(u, "00000001abc", "single-account UIDL is the upstream UIDL");
	free(u);
	u = view_uidl("work", "00000001abc", 1);
	CHECK_STR(u, "work:00000001abc", "aggregated UIDL is prefixed with the account");
	free(u);
	u = view_uidl("work", "0123456789012345678901234567890123456789012345678901234567890123456789", 1);
	CHECK(u != NULL && strlen(u) <= 70 && strncmp(u, "work:", 5) == 0, "long aggregated UIDL stays within 70");
	free(u);
	return test_done();
}
