#include "cmd.h"
#include "account-trust.h"
#include "crypto.h"
#include "net.h"
#include "pop3-client.h"
#include "store.h"
#include "tls.h"
#include "trust.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static const char set_usage[] =
    "usage: popgate account set -c FILE NAME --owner USER   (or USER/NAME)\n"
    "           [--trust STORE] [--pin SHA256]... [--no-pins] [--tofu|--no-tofu]\n"
    "           [--accept-new-pin] [--min-tls 1.2|1.3] [--max-tls 1.2|1.3]\n"
    "           [--insecure|--secure]\n"
    "Changes how an account trusts its server:\n"
    "  --trust STORE     system, mozilla or a custom store (popgate trust add)\n"
    "  --pin SHA256      accept only servers whose chain holds this key (SPKI pin\n"
    "                    \"sha256/BASE64\" as trust fetch shows it; repeat for more;\n"
    "                    replaces the pins); --no-pins drops them all\n"
    "  --tofu            trust on first use: the first good connection pins the\n"
    "                    server's key; a changed key is refused (pin_mismatch) and\n"
    "                    kept as pending until --accept-new-pin pins it instead\n"
    "  --min-tls/--max-tls  the TLS versions allowed (default 1.2 to 1.3)\n"
    "  --insecure        no certificate checks at all: refused unless [sync]\n"
    "                    allow_insecure = yes, and flagged wherever it is shown;\n"
    "                    --secure checks certificates again\n";

static const char test_usage[] =
    "usage: popgate account test -c FILE NAME [--owner USER] [--json]   (or USER/NAME)\n"
    "Runs each step to the account's server as a sync would and reports it with\n"
    "its time: resolve, connect, TLS handshake, certificate verification, POP3\n"
    "greeting, CAPA and login; the addresses tried, the TLS version and cipher,\n"
    "the chain the server presented and the verification result. Exits 0 only\n"
    "when every step passed. --json prints one object with ok, stage, code\n"
    "(ok, dns_failed, connect_failed, tls_version_mismatch, tls_handshake_failed,\n"
    "cert_untrusted, cert_self_signed, cert_expired, cert_name_mismatch,\n"
    "pin_mismatch, pop3_protocol_error, auth_failed), a hint and the details.\n";

static int
split_name(char *arg, const char **owner, const char **name)
{
	char *slash;

	if (*owner != NULL) {
		*name = arg;
		return 0;
	}
	if ((slash = strchr(arg, '/')) == NULL)
		return -1;
	*slash = '\0';
	*owner = arg;
	*name = slash + 1;
	return 0;
}

static int
version_ok(const char *v)
{
	return strcmp(v, "1.2") == 0 || strcmp(v, "1.3") == 0;
}

int
cmd_account_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "owner", required_argument, NULL, 'o' },
		{ "trust", required_argument, NULL, 't' },
		{ "pin", required_argument, NULL, 'p' },
		{ "no-pins", no_argument, NULL, 'P' },
		{ "tofu", no_argument, NULL, 'T' },
		{ "no-tofu", no_argument, NULL, 'N' },
		{ "accept-new-pin", no_argument, NULL, 'A' },
		{ "min-tls", required_argument, NULL, 'm' },
		{ "max-tls", required_argument, NULL, 'M' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "secure", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *owner = NULL, *name = NULL, *trust = NULL, *min = NULL, *max = NULL, *error;
	char pins[ACCOUNT_TRUST_MAX_PINS * (TRUST_PIN_SIZE + 1) + 1] = "", one[TRUST_PIN_SIZE], desc[256];
	int ch, npins = 0, no_pins = 0, tofu = -1, accept = 0, insecure = -1, rc = 1, r, changed = 0;
	struct store_account_trust t;
	struct store_account a;
	struct config *cf = NULL;
	struct store *st = NULL;

	memset(&t, 0, sizeof(t));
	memset(&a, 0, sizeof(a));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'o': owner = optarg; break;
		case 't': trust = optarg; break;
		case 'p':
			if (trust_pin_parse(optarg, one) == -1) {
				fprintf(stderr, "popgate: \"%s\" is not a SHA-256 SPKI pin (sha256/BASE64 or 64 hex "
				    "digits)\n", optarg);
				return 2;
			}
			if (npins == ACCOUNT_TRUST_MAX_PINS) {
				fprintf(stderr, "popgate: at most %d pins\n", ACCOUNT_TRUST_MAX_PINS);
				return 2;
			}
			snprintf(pins + strlen(pins), sizeof(pins) - strlen(pins), "%s%s", npins ? "\n" : "", one);
			npins++;
			break;
		case 'P': no_pins = 1; break;
		case 'T': tofu = 1; break;
		case 'N': tofu = 0; break;
		case 'A': accept = 1; break;
		case 'm': min = optarg; break;
		case 'M': max = optarg; break;
		case 'I': insecure = 1; break;
		case 'S': insecure = 0; break;
		case 'h': fputs(set_usage, stdout); return 0;
		default: fputs(set_usage, stderr); return 2;
		}
	}
	/* argv[optind] is "set". */
	if (argc - optind != 2 || split_name(argv[optind + 1], &owner, &name) == -1) {
		fprintf(stderr, "popgate: account set needs NAME --owner USER, or USER/NAME\n%s", set_usage);
		return 2;
	}
	if ((min != NULL && !version_ok(min)) || (max != NULL && !version_ok(max))) {
		fprintf(stderr, "popgate: --min-tls and --max-tls take 1.2 or 1.3\n");
		return 2;
	}
	if (npins > 0 && no_pins) {
		fprintf(stderr, "popgate: --pin and --no-pins contradict each other\n");
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if ((r = store_account_get(st, owner, name, &a, &error)) != 1) {
		fprintf(stderr, "popgate: %s\n", r == 0 ? "no such account" : error);
		goto out;
	}
	if ((r = store_account_trust_get(st, a.id, &t, &error)) != 1) {
		fprintf(stderr, "popgate: %s\n", r == 0 ? "no such account" : error);
		goto out;
	}
	if (trust != NULL) {
		if (strcmp(trust, "system") != 0 && strcmp(trust, "mozilla") != 0 &&
		    (r = store_trust_exists(st, trust, &error)) != 1) {
			fprintf(stderr, "popgate: %s\n", r == 0 ? "no such trust store (popgate trust add "
			    "STORE PEMFILE creates one)" : error);
			goto out;
		}
		free(t.trust);
		t.trust = strdup(trust);
		changed = 1;
	}
	if (accept) {
		if (t.pending_pin[0] == '\0') {
			fprintf(stderr, "popgate: no changed server key is waiting to be accepted for %s/%s\n",
			    owner, name);
			goto out;
		}
		free(t.pins);
		t.pins = strdup(t.pending_pin);
		t.pending_pin[0] = '\0';
		printf("accepted the new server key %s\n", t.pins);
	}
	if (npins > 0 || no_pins) {
		free(t.pins);
		t.pins = strdup(pins);
		t.pending_pin[0] = '\0';
	}
	if (tofu != -1)
		t.tofu = tofu;
	if (min != NULL)
		snprintf(t.min_tls, sizeof(t.min_tls), "%s", min);
	if (max != NULL)
		snprintf(t.max_tls, sizeof(t.max_tls), "%s", max);
	if (insecure != -1)
		t.insecure = insecure;
	if (t.trust == NULL || t.pins == NULL) {
		fprintf(stderr, "popgate: out of memory\n");
		goto out;
	}
	if (strcmp(t.min_tls, t.max_tls) > 0) {
		fprintf(stderr, "popgate: the minimum TLS version %s is above the maximum %s\n", t.min_tls,
		    t.max_tls);
		goto out;
	}
	if (store_account_trust_set(st, a.id, &t, changed, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	account_trust_describe(&t, changed ? NULL : a.ca_file, desc, sizeof(desc));
	printf("account %s/%s: %s\n", owner, name, desc);
	if (t.insecure)
		printf("WARNING: %s/%s is INSECURE: its server certificate is not checked; syncs refuse it "
		    "unless [sync] allow_insecure = yes%s\n", owner, name,
		    cf->allow_insecure ? " (it is)" : " (it is not)");
	rc = 0;
out:
	store_account_trust_clear(&t);
	store_account_clear(&a);
	store_close(&st);
	config_free(&cf);
	return rc;
}

/* ---- account test ---- */

enum step_id { S_RESOLVE, S_CONNECT, S_TLS, S_VERIFY, S_GREETING, S_CAPA, S_LOGIN, S_COUNT };
static const char *const step_names[S_COUNT] = {
	"resolve", "connect", "tls", "verify", "greeting", "capa", "login"
};

struct step {
	int state;		/* 0 not run, 1 ok, -1 failed */
	double ms;
	char detail[512];
};

struct test_run {
	struct step s[S_COUNT];
	double last;		/* when the previous step ended */
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
step_done(void *arg, const char *what)
{
	struct test_run *tr = arg;
	double t = now_ms();

	for (int i = 0; i < S_COUNT; i++) {
		if (strcmp(step_names[i], what) == 0) {
			tr->s[i].state = 1;
			tr->s[i].ms = t - tr->last;
			break;
		}
	}
	tr->last = t;
}

/* Which step a pop3c failure belongs to. */
static enum step_id
failed_step(const struct test_run *tr, const struct pop3c_failure *f, int starttls)
{
	switch (f->code) {
	case POP3C_DNS_FAILED:
		return S_RESOLVE;
	case POP3C_CONNECT_FAILED:
		return S_CONNECT;
	case POP3C_CERT_UNTRUSTED:
	case POP3C_CERT_SELF_SIGNED:
	case POP3C_CERT_EXPIRED:
	case POP3C_CERT_NAME_MISMATCH:
	case POP3C_CERT_PIN_MISMATCH:
		return S_VERIFY;
	case POP3C_TLS_VERSION_MISMATCH:
	case POP3C_TLS_HANDSHAKE_FAILED:
		return S_TLS;
	case POP3C_AUTH_FAILED:
	case POP3C_AUTH_UNAVAILABLE:
		return S_LOGIN;
	default:
		break;
	}
	if (f->stage == POP3C_STAGE_DNS)
		return S_RESOLVE;
	if (f->stage == POP3C_STAGE_CONNECT)
		return S_CONNECT;
	if (f->stage == POP3C_STAGE_TLS)
		return S_TLS;
	if (f->stage == POP3C_STAGE_AUTH)
		return S_LOGIN;
	if (tr->s[S_CONNECT].state != 1)
		return S_CONNECT;
	if (starttls && tr->s[S_GREETING].state != 1)
		return S_GREETING;
	if (tr->s[S_TLS].state != 1)
		return S_TLS;
	if (tr->s[S_GREETING].state != 1)
		return S_GREETING;
	return tr->s[S_CAPA].state != 1 ? S_CAPA : S_LOGIN;
}

static const char *
vname(int v)
{
	return v == TLS1_3_VERSION ? "TLS 1.3" : v == TLS1_2_VERSION ? "TLS 1.2" : v == TLS1_1_VERSION ?
	    "TLS 1.1" : v == TLS1_VERSION ? "TLS 1.0" : "an unknown TLS version";
}

static void
make_hint(char *hint, size_t size, const char *code, const struct store_account *a,
    const struct account_trust *t, const struct account_trust_fetch *fx, const char *leaf_sans)
{
	const char *acct = a->name;

	if (strcmp(code, "ok") == 0)
		snprintf(hint, size, "every step passed: syncs of %s/%s will work with these settings", a->owner, acct);
	else if (strcmp(code, "dns_failed") == 0)
		snprintf(hint, size, "the name %s does not resolve: check the host name (popgate resolve %s "
		    "shows what the [dns] settings answer)", a->host, a->host);
	else if (strcmp(code, "connect_failed") == 0)
		snprintf(hint, size, "nothing accepted a connection on %s port %d: check the port (995 for "
		    "implicit TLS, 110 with --tls starttls) and any firewall", a->host, a->port);
	else if (strcmp(code, "tls_version_mismatch") == 0) {
		if (fx->version_num != 0 && fx->version_num < t->min_tls)
			snprintf(hint, size, "the server offers at most %s but this account requires %s: if "
			    "you accept that, run popgate account set %s/%s --min-tls 1.2",
			    vname(fx->version_num), vname(t->min_tls), a->owner, acct);
		else if (fx->version_num != 0 && fx->version_num > t->max_tls)
			snprintf(hint, size, "the server requires %s but this account allows at most %s: "
			    "run popgate account set %s/%s --max-tls 1.3", vname(fx->version_num),
			    vname(t->max_tls), a->owner, acct);
		else
			snprintf(hint, size, "the server and this account (%s to %s) share no TLS version",
			    vname(t->min_tls), vname(t->max_tls));
	} else if (strcmp(code, "tls_handshake_failed") == 0)
		snprintf(hint, size, "the TLS handshake failed: is %s:%d a TLS port? (port 110 needs --tls "
		    "starttls, port 995 implicit TLS)", a->host, a->port);
	else if (strcmp(code, "cert_untrusted") == 0)
		snprintf(hint, size, "the server's chain does not lead to a certificate of trust store "
		    "\"%s\": check the issuer below with the provider; to trust it, save its CA as PEM, run "
		    "popgate trust add STORE CA.pem and popgate account set %s/%s --trust STORE",
		    t->s.trust ? t->s.trust : "system", a->owner, acct);
	else if (strcmp(code, "cert_self_signed") == 0)
		snprintf(hint, size, "the server presents a self-signed certificate that no trust store "
		    "vouches for: compare its SHA-256 fingerprint below with the provider, then popgate "
		    "trust add STORE cert.pem (popgate trust fetch %s:%d shows it) and popgate account set "
		    "%s/%s --trust STORE, or pin its key with --pin", a->host, a->port, a->owner, acct);
	else if (strcmp(code, "cert_expired") == 0)
		snprintf(hint, size, "the server's certificate is expired or not yet valid (dates below): "
		    "tell the provider, and check this machine's clock");
	else if (strcmp(code, "cert_name_mismatch") == 0)
		snprintf(hint, size, "the certificate is for %s, not %s: use one of its names as the "
		    "account's host, or ask the provider", leaf_sans[0] ? leaf_sans : "other names", a->host);
	else if (strcmp(code, "pin_mismatch") == 0) {
		if (t->s.tofu)
			snprintf(hint, size, "the server's key changed since popgate first saw it (new key %s): "
			    "if the provider confirms the change, run popgate account set %s/%s "
			    "--accept-new-pin; otherwise someone may be in between",
			    t->seen_pin[0] ? t->seen_pin : "unknown", a->owner, acct);
		else
			snprintf(hint, size, "no certificate of the server's chain matches the account's pins "
			    "(the server key is %s): if the provider changed keys, set the new pin with "
			    "popgate account set %s/%s --pin", t->seen_pin[0] ? t->seen_pin : "unknown",
			    a->owner, acct);
	} else if (strcmp(code, "auth_failed") == 0)
		snprintf(hint, size, "the server refused the login %s: check the login and password (delete "
		    "and add the account again with the right password file)", a->login);
	else
		snprintf(hint, size, "the server did not speak POP3 as expected: check host, port and "
		    "--tls implicit|starttls");
}

static void
print_addrs(const struct net_attempts *att, json_t *arr, char *line, size_t size)
{
	char buf[80];

	line[0] = '\0';
	for (size_t i = 0; i < att->count; i++) {
		const char *e = att->a[i].error ? (att->a[i].timed_out ? "timed out" : strerror(att->a[i].error))
		    : NULL;
		net_addr_str(&att->a[i].addr, buf, sizeof(buf));
		snprintf(line + strlen(line), size - strlen(line), "%s%s%s%s", i ? ", " : "", buf,
		    e ? ": " : "", e ? e : "");
		json_array_append_new(arr, json_pack("{s:s, s:s?}", "address", buf, "error", e));
	}
}

int
cmd_account_test(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "owner", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL, *owner = NULL, *name = NULL, *error, *code = "ok";
	struct config *cf = NULL;
	struct store *st = NULL;
	struct store_account a;
	struct account_trust t;
	struct account_trust_fetch fx;
	struct pop3c_params p;
	struct pop3c_failure f;
	struct net_attempts att;
	struct test_run tr;
	struct pop3c *c = NULL;
	struct crypto_box *box = NULL;
	struct resolver *res = NULL;
	struct sockaddr_storage addrs[NET_MAX_ADDRS];
	char *password = NULL, *key_path = NULL, envmsg[512], hint[768], note[256], verify[600];
	char addrline[1024] = "", leaf_sans[256] = "", tls_version[32] = "", tls_cipher[64] = "", buf[80];
	enum step_id failed = S_COUNT;
	int ch, json = 0, rc = 1, r, env_over, n;
	json_t *out = NULL, *steps, *addrj, *resolved;
	double t0;

	memset(&a, 0, sizeof(a));
	memset(&t, 0, sizeof(t));
	memset(&fx, 0, sizeof(fx));
	memset(&f, 0, sizeof(f));
	memset(&att, 0, sizeof(att));
	memset(&tr, 0, sizeof(tr));
	note[0] = verify[0] = '\0';
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'o': owner = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(test_usage, stdout); return 0;
		default: fputs(test_usage, stderr); return 2;
		}
	}
	if (argc - optind != 2 || split_name(argv[optind + 1], &owner, &name) == -1) {
		fprintf(stderr, "popgate: account test needs NAME --owner USER, or USER/NAME\n%s", test_usage);
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if ((r = store_account_get(st, owner, name, &a, &error)) != 1) {
		fprintf(stderr, "popgate: %s\n", r == 0 ? "no such account" : error);
		goto out;
	}
	if ((key_path = config_state_path(cf, "secret.key")) == NULL ||
	    crypto_box_open(key_path, &box, &error) == -1 ||
	    crypto_box_unseal(box, a.secret, a.secret_len, &password) == -1) {
		fprintf(stderr, "popgate: cannot decrypt the account password (was secret.key replaced?)\n");
		goto out;
	}
	if (cmd_use_resolver(cf, &res) == -1)
		goto out;
	env_over = trust_env_override(envmsg, sizeof(envmsg));
	steps = json_array();
	addrj = json_array();
	resolved = json_array();
	out = json_object();

	r = account_trust_load(st, cf, &a, &t, verify, sizeof(verify));
	if (r != 0) {
		/* Trust that cannot be built (or an insecure account not allowed) fails verification. */
		failed = S_VERIFY;
		code = "cert_untrusted";
		snprintf(tr.s[S_VERIFY].detail, sizeof(tr.s[S_VERIFY].detail), "%s", verify);
		snprintf(hint, sizeof(hint), "%s", verify);
		tr.s[S_VERIFY].state = -1;
		(void)store_account_trust_get(st, a.id, &t.s, &error);
		goto report;
	}

	/* resolve */
	t0 = now_ms();
	n = net_resolve(a.host, a.port, addrs, NET_MAX_ADDRS, cf->sync_timeout * 1000, &error);
	tr.s[S_RESOLVE].ms = now_ms() - t0;
	if (n <= 0) {
		tr.s[S_RESOLVE].state = -1;
		snprintf(tr.s[S_RESOLVE].detail, sizeof(tr.s[S_RESOLVE].detail), "%s: %s", a.host, error);
		failed = S_RESOLVE;
		code = "dns_failed";
		f.code = POP3C_DNS_FAILED;
		snprintf(f.detail, sizeof(f.detail), "%s: %s", a.host, error);
		goto hint;
	}
	tr.s[S_RESOLVE].state = 1;
	for (int i = 0; i < n; i++) {
		net_addr_str(&addrs[i], buf, sizeof(buf));
		snprintf(tr.s[S_RESOLVE].detail + strlen(tr.s[S_RESOLVE].detail),
		    sizeof(tr.s[S_RESOLVE].detail) - strlen(tr.s[S_RESOLVE].detail), "%s%s", i ? ", " : "", buf);
		json_array_append_new(resolved, json_string(buf));
	}

	/* connect, TLS, verification, greeting, CAPA, login: as a sync does them */
	account_pop3c_params(&a, password, cf->sync_timeout * 1000, &t, &p);
	p.step_done = step_done;
	p.step_arg = &tr;
	tr.last = now_ms();
	r = pop3c_connect(&p, &c, &f, &att);
	print_addrs(&att, addrj, addrline, sizeof(addrline));
	snprintf(tr.s[S_CONNECT].detail, sizeof(tr.s[S_CONNECT].detail), "%s", addrline);
	if (account_trust_done(st, &t, &f, r == 0, note, sizeof(note), verify, sizeof(verify)) == -1)
		fprintf(stderr, "popgate: %s\n", verify);
	if (note[0] != '\0') {
		/* TOFU changed the stored settings: report them as they are now. */
		store_account_trust_clear(&t.s);
		(void)store_account_trust_get(st, a.id, &t.s, &error);
	}
	if (r == 0) {
		snprintf(tls_version, sizeof(tls_version), "%s", pop3c_tls_version(c));
		snprintf(tls_cipher, sizeof(tls_cipher), "%s", pop3c_tls_cipher(c));
		snprintf(tr.s[S_TLS].detail, sizeof(tr.s[S_TLS].detail), "%s, %s", tls_version, tls_cipher);
		tr.s[S_VERIFY].state = 1;
		if (t.s.insecure)
			snprintf(verify, sizeof(verify), "NOT CHECKED: the account is insecure");
		else
			snprintf(verify, sizeof(verify), "verified against %s%s%s", t.ca_file ? "CA file " :
			    "trust store ", t.ca_file ? t.ca_file : t.s.trust,
			    t.tp.n ? ", and a pin matched" : ", no pins");
		snprintf(tr.s[S_VERIFY].detail, sizeof(tr.s[S_VERIFY].detail), "%s", verify);
		snprintf(tr.s[S_GREETING].detail, sizeof(tr.s[S_GREETING].detail), "%s", pop3c_greeting(c));
		snprintf(tr.s[S_CAPA].detail, sizeof(tr.s[S_CAPA].detail), "UIDL %s, SASL PLAIN %s",
		    pop3c_has_capa(c, "UIDL") ? "yes" : "no", pop3c_has_capa(c, "SASL PLAIN") ? "yes" : "no");
		snprintf(tr.s[S_LOGIN].detail, sizeof(tr.s[S_LOGIN].detail), "logged in as %s with %s",
		    a.login, pop3c_auth_used(c));
		(void)pop3c_quit(c, hint, sizeof(hint));
	} else {
		failed = failed_step(&tr, &f, p.starttls);
		code = account_trust_code(f.stage, f.code);
		tr.s[failed].state = -1;
		/* Verification is part of the handshake: its time is the handshake's. */
		tr.s[failed == S_VERIFY ? S_TLS : failed].ms = now_ms() - tr.last;
		snprintf(tr.s[failed].detail, sizeof(tr.s[failed].detail), "%s", f.detail);
		if (failed == S_VERIFY) {
			tr.s[S_TLS].state = 1;
			snprintf(verify, sizeof(verify), "%s", f.detail);
		}
	}
	/* The chain as presented, even when it was refused: fetched again without trusting it. */
	if (tr.s[S_CONNECT].state == 1 &&
	    account_trust_fetch(a.host, a.port, p.starttls, p.timeout_ms, &fx, hint, sizeof(hint)) == 0) {
		STACK_OF(X509) *sk = account_trust_pem_chain(fx.chain_pem, fx.chain_len);
		struct trust_cert_info ci;
		if (sk != NULL && sk_X509_num(sk) > 0 && trust_cert_info(sk_X509_value(sk, 0), &ci) == 0)
			snprintf(leaf_sans, sizeof(leaf_sans), "%s", ci.sans);
		if (sk != NULL)
			sk_X509_pop_free(sk, X509_free);
		if (tls_version[0] == '\0' && failed == S_VERIFY)
			snprintf(tr.s[S_TLS].detail, sizeof(tr.s[S_TLS].detail), "%s, %s", fx.version, fx.cipher);
	}
hint:
	make_hint(hint, sizeof(hint), code, &a, &t, &fx, leaf_sans);
report:
	json_object_set_new(out, "ok", json_boolean(failed == S_COUNT));
	json_object_set_new(out, "stage", json_string(failed == S_COUNT ? "done" : step_names[failed]));
	json_object_set_new(out, "code", json_string(code));
	json_object_set_new(out, "hint", cmd_json_str(hint));
	json_object_set_new(out, "detail", cmd_json_str(failed == S_COUNT ? "" : tr.s[failed].detail));
	snprintf(buf, sizeof(buf), "%s/%s", a.owner, a.name);
	json_object_set_new(out, "account", json_string(buf));
	json_object_set_new(out, "host", cmd_json_str(a.host));
	json_object_set_new(out, "port", json_integer(a.port));
	json_object_set_new(out, "tls_mode", json_string(a.tls == STORE_TLS_STARTTLS ? "starttls" : "implicit"));
	json_object_set_new(out, "trust", json_pack("{s:s?, s:s?, s:s?, s:b, s:s?, s:s, s:s, s:b}",
	    "store", t.s.trust, "ca_file", a.ca_file, "pins", t.s.pins, "tofu", t.s.tofu,
	    "pending_pin", t.s.pending_pin, "min_tls", t.s.min_tls, "max_tls", t.s.max_tls,
	    "insecure", t.s.insecure));
	for (int i = 0; i < S_COUNT; i++)
		json_array_append_new(steps, json_pack("{s:s, s:s, s:f, s:o}", "step", step_names[i],
		    "result", tr.s[i].state == 1 ? "ok" : tr.s[i].state == -1 ? "failed" : "not run",
		    "ms", (double)(long long)(tr.s[i].ms * 10.0 + 0.5) / 10.0, "detail",
		    cmd_json_str(tr.s[i].detail)));
	json_object_set_new(out, "steps", steps);
	json_object_set_new(out, "resolved", resolved);
	json_object_set_new(out, "addresses", addrj);
	json_object_set_new(out, "tls_version", json_string(tls_version[0] ? tls_version : fx.version));
	json_object_set_new(out, "tls_cipher", json_string(tls_cipher[0] ? tls_cipher : fx.cipher));
	json_object_set_new(out, "chain", fx.chain_pem ? cmd_trust_chain_json(fx.chain_pem, fx.chain_len) :
	    json_array());
	json_object_set_new(out, "verification", cmd_json_str(verify));
	json_object_set_new(out, "env_override", env_over ? json_string(envmsg) : json_null());
	json_object_set_new(out, "tofu_note", json_string(note));
	if (json) {
		char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	} else {
		char desc[256];
		account_trust_describe(&t.s, a.ca_file, desc, sizeof(desc));
		printf("account %s/%s: %s:%d %s, %s\n", a.owner, a.name, a.host, a.port,
		    a.tls == STORE_TLS_STARTTLS ? "STLS" : "implicit TLS", desc);
		if (env_over)
			printf("WARNING: %s\n", envmsg);
		for (int i = 0; i < S_COUNT; i++) {
			if (tr.s[i].state == 0)
				printf("  %-9s %-7s\n", step_names[i], "not run");
			else
				printf("  %-9s %-7s %8.1f ms  %s\n", step_names[i], tr.s[i].state == 1 ? "ok" :
				    "FAILED", tr.s[i].ms, tr.s[i].detail);
		}
		if (fx.chain_pem != NULL) {
			printf("chain presented (%s):\n", tls_version[0] ? tls_version : fx.version);
			cmd_trust_print_chain(fx.chain_pem, fx.chain_len, "  ");
		}
		if (note[0])
			printf("%s\n", note);
		if (failed == S_COUNT)
			printf("result: ok\n");
		else
			printf("result: %s at %s\nhint: %s\n", code, step_names[failed], hint);
	}
	rc = failed == S_COUNT ? 0 : 1;
out:
	json_decref(out);
	pop3c_free(&c);
	account_trust_fetch_clear(&fx);
	account_trust_clear(&t);
	cmd_drop_resolver(&res);
	if (password != NULL) {
		crypto_wipe(password, strlen(password));
		free(password);
	}
	crypto_box_free(&box);
	free(key_path);
	store_account_clear(&a);
	store_close(&st);
	config_free(&cf);
	return rc;
}
