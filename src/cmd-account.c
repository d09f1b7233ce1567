#include "cmd.h"
#include "account-trust.h"
#include "crypto.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char account_usage[] =
    "usage: popgate account add NAME --owner USER --host HOST [--port N]\n"
    "           [--tls implicit|starttls] --login LOGIN --password-file FILE\n"
    "           [--ca-file PEM] [--auth auto|user|plain|apop] [-c FILE]\n"
    "       popgate account list [--owner USER] [-c FILE]\n"
    "       popgate account del NAME --owner USER [-c FILE]   (or USER/NAME)\n"
    "       popgate account set NAME --owner USER [trust options] [-c FILE]\n"
    "       popgate account test NAME --owner USER [--json] [-c FILE]\n"
    "An account is one upstream POP3 mailbox. The default port is 995 for implicit\n"
    "TLS and 110 for starttls. The server certificate is always verified, against\n"
    "the system trust store or the CA file given. The password is stored encrypted\n"
    "(AES-256-GCM, key in STATE/secret.key). account set changes the trust store,\n"
    "pins, TOFU, TLS versions and the insecure flag (account set --help);\n"
    "account test diagnoses the connection step by step (account test --help).\n";


static int
print_account(const struct store_account *a, void *ctx)
{
	struct store_account_trust t;
	const char *error;
	char desc[256] = "trust=?";

	if (store_account_trust_get(ctx, a->id, &t, &error) == 1)
		account_trust_describe(&t, a->ca_file, desc, sizeof(desc));
	printf("%s/%s\t%s:%d\t%s\t%s\t%s\t%s\n", a->owner, a->name, a->host, a->port,
	    a->tls == STORE_TLS_STARTTLS ? "starttls" : "implicit", a->login, a->auth, desc);
	if (t.insecure)
		printf("  WARNING: %s/%s is INSECURE: its server certificate is not checked\n", a->owner, a->name);
	if (t.pending_pin != NULL && t.pending_pin[0] != '\0')
		printf("  NOTE: %s/%s: the server key changed to %s; account set --accept-new-pin accepts it\n",
		    a->owner, a->name, t.pending_pin);
	store_account_trust_clear(&t);
	return 0;
}

/* The first word that is not an option or an option's value: the verb. */
static const char *
find_verb(int argc, char **argv)
{
	static const char *const with_arg[] = { "-c", "--config", "--owner", "--host", "--port", "--tls",
		"--login", "--password-file", "--ca-file", "--auth", "--trust", "--pin", "--min-tls",
		"--max-tls", NULL };

	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-')
			return argv[i];
		for (int k = 0; with_arg[k] != NULL; k++)
			if (strcmp(argv[i], with_arg[k]) == 0) {
				i++;
				break;
			}
	}
	return NULL;
}

/* Splits "USER/NAME" when no --owner was given. */
static int
split_owner(char *arg, const char **owner, const char **name)
{
	char *slash = strchr(arg, '/');

	if (*owner != NULL) {
		*name = arg;
		return 0;
	}
	if (slash == NULL)
		return -1;
	*slash = '\0';
	*owner = arg;
	*name = slash + 1;
	return 0;
}

static int
account_add(struct store *st, const struct config *cf, struct store_account *a, const char *pwfile)
{
	struct crypto_box *box = NULL;
	char *password = NULL, *key_path;
	const char *error;
	int rc = -1;

	if ((key_path = config_state_path(cf, "secret.key")) == NULL)
		return -1;
	if (crypto_box_open(key_path, &box, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	if ((password = cmd_read_password(pwfile)) == NULL)
		goto out;
	if (crypto_box_seal(box, password, strlen(password), &a->secret, &a->secret_len) == -1) {
		fprintf(stderr, "popgate: cannot encrypt the password\n");
		goto out;
	}
	if (store_account_add(st, a, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	printf("account %s/%s added (%s:%d, %s)\n", a->owner, a->name, a->host, a->port,
	    a->tls == STORE_TLS_STARTTLS ? "starttls" : "implicit TLS");
	rc = 0;
out:
	if (password != NULL) {
		crypto_wipe(password, strlen(password));
		free(password);
	}
	free(a->secret);
	a->secret = NULL;
	crypto_box_free(&box);
	free(key_path);
	return rc;
}

int
cmd_account(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "owner", required_argument, NULL, 'o' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'P' },
		{ "tls", required_argument, NULL, 't' },
		{ "login", required_argument, NULL, 'l' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "ca-file", required_argument, NULL, 'a' },
		{ "auth", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_account a;
	const char *path = NULL, *pwfile = NULL, *owner = NULL, *verb, *name = NULL, *error;
	const char *tls = "implicit", *auth = "auto", *ca_file = NULL, *host = NULL, *login = NULL;
	struct config *cf = NULL;
	struct store *st = NULL;
	char *ca_abs = NULL, *end;
	long port = 0;
	int ch, rc = 1, r;
	const char *v = find_verb(argc, argv);

	if (v != NULL && strcmp(v, "set") == 0)
		return cmd_account_set(argc, argv);
	if (v != NULL && strcmp(v, "test") == 0)
		return cmd_account_test(argc, argv);

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'o': owner = optarg; break;
		case 'H': host = optarg; break;
		case 'P':
			port = strtol(optarg, &end, 10);
			if (*end != '\0' || port < 1 || port > 65535) {
				fprintf(stderr, "popgate: --port must be 1-65535\n");
				return 2;
			}
			break;
		case 't': tls = optarg; break;
		case 'l': login = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'a': ca_file = optarg; break;
		case 'A': auth = optarg; break;
		case 'h': fputs(account_usage, stdout); return 0;
		default: fputs(account_usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(account_usage, stderr);
		return 2;
	}
	verb = argv[optind++];
	if (strcmp(verb, "add") == 0) {
		if (optind != argc - 1 || owner == NULL || host == NULL || login == NULL || pwfile == NULL) {
			fprintf(stderr, "popgate: account add needs NAME, --owner, --host, --login and "
			    "--password-file\n");
			return 2;
		}
		name = argv[optind];
		if (!cmd_valid_name(name) || strchr(name, '@') != NULL) {
			fprintf(stderr, "popgate: account name \"%s\" must be 1-64 letters, digits or . _ - +\n", name);
			return 2;
		}
		if (strcmp(tls, "implicit") != 0 && strcmp(tls, "starttls") != 0) {
			fprintf(stderr, "popgate: --tls must be implicit or starttls\n");
			return 2;
		}
		if (strcmp(auth, "auto") && strcmp(auth, "user") && strcmp(auth, "plain") && strcmp(auth, "apop")) {
			fprintf(stderr, "popgate: --auth must be auto, user, plain or apop\n");
			return 2;
		}
		if (ca_file != NULL) {
			if (access(ca_file, R_OK) == -1) {
				fprintf(stderr, "popgate: cannot read --ca-file %s\n", ca_file);
				return 2;
			}
			if ((ca_abs = realpath(ca_file, NULL)) == NULL)
				return 1;
		}
	} else if (strcmp(verb, "del") == 0) {
		if (optind != argc - 1 || split_owner(argv[optind], &owner, &name) == -1) {
			fprintf(stderr, "popgate: account del needs NAME --owner USER, or USER/NAME\n");
			return 2;
		}
	} else if (strcmp(verb, "list") != 0) {
		fprintf(stderr, "popgate: unknown account command \"%s\"\n%s", verb, account_usage);
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL || (st = cmd_open_store(cf)) == NULL)
		goto out;
	if (strcmp(verb, "add") == 0) {
		memset(&a, 0, sizeof(a));
		a.owner = (char *)owner;
		a.name = (char *)name;
		a.host = (char *)host;
		a.tls = strcmp(tls, "starttls") == 0 ? STORE_TLS_STARTTLS : STORE_TLS_IMPLICIT;
		a.port = port != 0 ? (int)port : a.tls == STORE_TLS_STARTTLS ? 110 : 995;
		a.login = (char *)login;
		a.ca_file = ca_abs;
		a.auth = (char *)auth;
		if (account_add(st, cf, &a, pwfile) == -1)
			goto out;
	} else if (strcmp(verb, "del") == 0) {
		if ((r = store_account_del(st, owner, name, &error)) <= 0) {
			fprintf(stderr, "popgate: %s\n", r == 0 ? "no such account" : error);
			goto out;
		}
		printf("account %s/%s deleted\n", owner, name);
	} else if (store_account_foreach(st, owner, print_account, st, &error) == -1) {
		fprintf(stderr, "popgate: %s\n", error);
		goto out;
	}
	rc = 0;
out:
	free(ca_abs);
	store_close(&st);
	config_free(&cf);
	return rc;
}
