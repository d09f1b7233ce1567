/*
 * trust-account: an account's trust settings from the store, ready for
 * pop3-client (the one part of trust that reads the database).
 */
#include <stdio.h>
#include <string.h>

#include "pop3-client.h"
#include "store.h"
#include "trust.h"

int
trust_account_load(struct store *st, int64_t account_id, struct trust_account *ta, char *err, size_t errlen)
{
	struct store_account_tls at;
	struct store_trust t;
	const char *error;
	int kind, found;

	memset(ta, 0, sizeof *ta);
	if (store_account_tls_get(st, account_id, &at, &error) == -1 ||
	    store_pin_list(st, account_id, &ta->pins, &ta->npins, &error) == -1) {
		snprintf(err, errlen, "%s", error);
		return -1;
	}
	ta->min_tls = at.tls_min;
	ta->max_tls = at.tls_max;
	ta->tp.pins = (const char *const *)ta->pins;
	ta->tp.n = ta->npins;
	if (at.trust_store_id == 0)
		return 0;
	if ((found = store_trust_get_id(st, at.trust_store_id, &t, &error)) != 1) {
		snprintf(err, errlen, "%s", found == 0 ? "the account's trust store is gone" : error);
		trust_account_clear(ta);
		return -1;
	}
	snprintf(ta->store_name, sizeof ta->store_name, "%s", t.name);
	kind = trust_kind_parse(t.kind);
	ta->store = trust_store_new((enum trust_kind)kind, t.pem, t.pem != NULL ? strlen(t.pem) : 0, NULL,
	    NULL, err, errlen);
	store_trust_clear(&t);
	if (ta->store == NULL) {
		trust_account_clear(ta);
		return -1;
	}
	return 0;
}

void
trust_account_apply(struct trust_account *ta, struct pop3c_params *p)
{
	if (ta->store != NULL)
		p->store = ta->store;
	if (ta->min_tls)
		p->min_tls = ta->min_tls;
	if (ta->max_tls)
		p->max_tls = ta->max_tls;
	if (ta->npins > 0) {
		p->check_peer = trust_pins_check;
		p->check_peer_arg = &ta->tp;
	}
}

void
trust_account_clear(struct trust_account *ta)
{
	X509_STORE_free(ta->store);
	store_pins_free(&ta->pins);
	memset(ta, 0, sizeof *ta);
}
