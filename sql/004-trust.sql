-- popgate trust: custom certificate stores and each account's trust settings.
-- The names "system" and "mozilla" are built in and never stored here.
CREATE TABLE trust_stores (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	created INTEGER NOT NULL DEFAULT (strftime('%s','now'))
);

CREATE TABLE trust_certs (
	id INTEGER PRIMARY KEY,
	store_id INTEGER NOT NULL REFERENCES trust_stores(id) ON DELETE CASCADE,
	sha256 TEXT NOT NULL,            -- fingerprint of the DER, "AB:CD:..."
	subject TEXT NOT NULL DEFAULT '',
	pem TEXT NOT NULL,
	added INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	UNIQUE (store_id, sha256)
);

-- trust: "system", "mozilla" or the name of a trust_stores row.
-- pins: SPKI pins "sha256/...", one per line ('' for none).
-- pending_pin: under TOFU, a changed server key waiting for
-- "account set --accept-new-pin" ('' for none).
-- min_tls/max_tls: "1.2" or "1.3". insecure: no certificate checks at all.
ALTER TABLE accounts ADD COLUMN trust TEXT NOT NULL DEFAULT 'system';
ALTER TABLE accounts ADD COLUMN pins TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN tofu INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN pending_pin TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN min_tls TEXT NOT NULL DEFAULT '1.2' CHECK (min_tls IN ('1.2', '1.3'));
ALTER TABLE accounts ADD COLUMN max_tls TEXT NOT NULL DEFAULT '1.3' CHECK (max_tls IN ('1.2', '1.3'));
ALTER TABLE accounts ADD COLUMN insecure INTEGER NOT NULL DEFAULT 0;
