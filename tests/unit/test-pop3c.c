/*
 * pop3-client wire parsing: status lines with RFC 2449 codes, UIDL and
 * LIST lines, the APOP timestamp, and dot-unstuffing fed in every split.
 */
#include <stdlib.h>
#include <string.h>

#include "pop3-client.h"
#include "test.h"

static void
test_status(void)
{
	struct pop3c_status st;
	int r;

	r = pop3c_parse_status("+OK Dovecot ready.", &st);
	CHECK(r == 0 && st.ok && !st.cont && strcmp(st.text, "Dovecot ready.") == 0, "+OK with text");
	r = pop3c_parse_status("+OK", &st);
	CHECK(r == 0 && st.ok && st.text[0] == '\0', "bare +OK");
	r = pop3c_parse_status("-ERR [AUTH] Authentication failed.", &st);
	CHECK(r == 0 && !st.ok && strcmp(st.code, "AUTH") == 0, "-ERR [AUTH]");
	CHECK_STR(st.text, "Authentication failed.", "text after the code");
	r = pop3c_parse_status("-ERR [SYS/TEMP] try later", &st);
	CHECK(r == 0 && strcmp(st.code, "SYS/TEMP") == 0, "[SYS/TEMP]");
	r = pop3c_parse_status("-ERR [IN-USE]", &st);
	CHECK(r == 0 && strcmp(st.code, "IN-USE") == 0 && st.text[0] == '\0', "code without text");
	r = pop3c_parse_status("-ERR [not a code] x", &st);
	CHECK(r == 0 && st.code[0] == '\0' && strcmp(st.text, "[not a code] x") == 0, "bracket text with spaces is text");
	r = pop3c_parse_status("-ERR [unterminated", &st);
	CHECK(r == 0 && st.code[0] == '\0', "unterminated bracket is text");
	r = pop3c_parse_status("+ ", &st);
	CHECK(r == 0 && st.cont && st.text[0] == '\0', "empty continuation");
	r = pop3c_parse_status("+", &st);
	CHECK(r == 0 && st.cont, "bare + continuation");
	r = pop3c_parse_status("+ dGVzdA==", &st);
	CHECK(r == 0 && st.cont && strcmp(st.text, "dGVzdA==") == 0, "continuation with data");
	r = pop3c_parse_status("+OKAY", &st);
	CHECK(r == -1, "+OKAY is not +OK");
	r = pop3c_parse_status("* OK IMAP4 ready", &st);
	CHECK(r == -1, "IMAP greeting rejected");
	r = pop3c_parse_status("", &st);
	CHECK(r == -1, "empty line rejected");
	r = pop3c_parse_status("+ok lowercase", &st);
	CHECK(r == 0 && st.ok, "lowercase +ok accepted");
}

static void
test_listings(void)
{
	char uidl[17];
	unsigned num;
	int64_t size;
	int r;

	r = pop3c_parse_uidl("1 000000017bbb21f5", &num, uidl, sizeof uidl);
	CHECK(r == 0 && num == 1 && strcmp(uidl, "000000017bbb21f5") == 0, "UIDL line");
	r = pop3c_parse_uidl("42   abc  ", &num, uidl, sizeof uidl);
	CHECK(r == 0 && num == 42 && strcmp(uidl, "abc") == 0, "extra spaces tolerated");
	r = pop3c_parse_uidl("0 abc", &num, uidl, sizeof uidl);
	CHECK(r == -1, "message 0 rejected");
	r = pop3c_parse_uidl("4294967296 abc", &num, uidl, sizeof uidl);
	CHECK(r == -1, "number overflow rejected");
	r = pop3c_parse_uidl("1 a b", &num, uidl, sizeof uidl);
	CHECK(r == -1, "two words rejected");
	r = pop3c_parse_uidl("1 0123456789abcdefg", &num, uidl, sizeof uidl);
	CHECK(r == -1, "UIDL longer than the buffer rejected");
	r = pop3c_parse_uidl("1 caf\xc3\xa9", &num, uidl, sizeof uidl);
	CHECK(r == -1, "non-ASCII UIDL rejected");
	r = pop3c_parse_uidl("x abc", &num, uidl, sizeof uidl);
	CHECK(r == -1, "non-numeric rejected");
	r = pop3c_parse_uidl("1", &num, uidl, sizeof uidl);
	CHECK(r == -1, "missing UIDL rejected");

	r = pop3c_parse_list("3 120034", &num, &size);
	CHECK(r == 0 && num == 3 && size == 120034, "LIST line");
	r = pop3c_parse_list("2 5 extra", &num, &size);
	CHECK(r == 0 && size == 5, "text after the size allowed");
	r = pop3c_parse_list("2 -5", &num, &size);
	CHECK(r == -1, "negative size rejected");
	r = pop3c_parse_list("2 99999999999999999999", &num, &size);
	CHECK(r == -1, "size overflow rejected");
	r = pop3c_parse_list("2 5x", &num, &size);
	CHECK(r == -1, "junk glued to the size rejected");
}

static void
test_apop(void)
{
	char ts[64];
	int r;

	r = pop3c_apop_timestamp("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", ts, sizeof ts);
	CHECK(r == 0 && strcmp(ts, "<1896.697170952@dbc.mtview.ca.us>") == 0, "RFC 1939 example timestamp");
	r = pop3c_apop_timestamp("+OK Dovecot ready.", ts, sizeof ts);
	CHECK(r == -1, "no timestamp");
	r = pop3c_apop_timestamp("+OK <no-at-sign>", ts, sizeof ts);
	CHECK(r == -1, "timestamp without @ rejected");
	r = pop3c_apop_timestamp("+OK <a b@c>", ts, sizeof ts);
	CHECK(r == -1, "timestamp with a space rejected");
	r = pop3c_apop_timestamp("+OK <unterminated@x", ts, sizeof ts);
	CHECK(r == -1, "unterminated timestamp rejected");
	r = pop3c_apop_timestamp("+OK <1@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>", ts, sizeof ts);
	CHECK(r == -1, "timestamp longer than the buffer rejected");
}

/* Decodes wire in chunks of step bytes; returns the output (malloc'd). */
static char *
decode(const char *wire, size_t step, size_t *consumed_r, int *done_r)
{
	struct pop3c_dot d;
	size_t len = strlen(wire), pos = 0, olen, total = 0, n, used;
	char *out = malloc(2 * len + 1);

	pop3c_dot_init(&d);
	while (pos < len && !d.done) {
		n = len - pos < step ? len - pos : step;
		used = pop3c_dot_decode(&d, wire + pos, n, out + total, &olen);
		pos += used;
		total += olen;
	}
	out[total] = '\0';
	*consumed_r = pos;
	*done_r = d.done;
	return out;
}

static void
test_dot(void)
{
	static const struct {
		const char *wire, *want, *name;
	} cases[] = {
		{ "Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n", "plain message" },
		{ "..leading dot\r\n.\r\n", ".leading dot\r\n", "stuffed dot removed" },
		{ "...\r\n.\r\n", "..\r\n", "stuffed dots line" },
		{ "a\nb\n.\n", "a\r\nb\r\n", "bare LF made CRLF" },
		{ "x\ry\r\n.\r\n", "x\ry\r\n", "bare CR inside a line kept" },
		{ "x\r\r\n.\r\n", "x\r\r\n", "CR before CRLF kept" },
		{ ".\r\n", "", "empty message" },
		{ "a.\r\n. \r\n.\r\n", "a.\r\n \r\n", "dot not at line start kept; dot-space line unstuffed" },
		{ "end\r\n.\r\nNEXT +OK\r\n", "end\r\n", "stops at the terminator" },
		{ ".\rx\r\n.\r\n", "\rx\r\n", "dot-CR-x line" },
	};
	size_t i, step, consumed;
	int done, ok;
	char *out;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ok = 1;
		for (step = 1; step <= strlen(cases[i].wire); step++) {
			out = decode(cases[i].wire, step, &consumed, &done);
			if (strcmp(out, cases[i].want) != 0 || !done)
				ok = 0;
			free(out);
		}
		CHECK(ok, "%s, in every chunk size", cases[i].name);
	}
	out = decode("end\r\n.\r\nNEXT +OK\r\n", 64, &consumed, &done);
	CHECK(consumed == 8, "consumed exactly up to the terminator (%zu)", consumed);
	free(out);
	out = decode("no terminator\r\n", 64, &consumed, &done);
	CHECK(!done && strcmp(out, "no terminator\r\n") == 0, "not done without terminator");
	free(out);
}

static void
test_names(void)
{
	CHECK_STR(pop3c_code_name(POP3C_TLS_VERSION_MISMATCH), "tls_version_mismatch", "code name");
	CHECK_STR(pop3c_code_name(POP3C_AUTH_FAILED), "auth_failed", "auth code name");
	CHECK_STR(pop3c_code_name(POP3C_CERT_NAME_MISMATCH), "cert_name_mismatch", "cert code name");
	CHECK_STR(pop3c_stage_name(POP3C_STAGE_TLS), "tls", "stage name");
	CHECK_STR(pop3c_code_name((enum pop3c_code)999), "unknown", "out of range code");
}

int
main(void)
{
	test_status();
	test_listings();
	test_apop();
	test_dot();
	test_names();
	return test_done();
}
