-- Trust for upstream TLS: named trust stores (the OS store, the Mozilla set,
-- or custom PEM certificates), each account's TLS settings, and key pins.
CREATE TABLE trust_stores (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL CHECK (kind IN ('system', 'mozilla', 'custom')),
	pem TEXT,                        -- custom only: the certificates, PEM
	created INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	CHECK ((kind = 'custom') = (pem IS NOT NULL))
);
INSERT INTO trust_stores (name, kind) VALUES ('system', 'system'), ('mozilla', 'mozilla');

-- No row: the system store (or accounts.ca_file) and TLS 1.2 to 1.3.
CREATE TABLE account_tls (
	account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	trust_store_id INTEGER REFERENCES trust_stores(id) ON DELETE RESTRICT,
	tls_min TEXT CHECK (tls_min IN ('TLSv1.0', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3')),
	tls_max TEXT CHECK (tls_max IN ('TLSv1.0', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'))
);

-- SPKI SHA-256 pins, "sha256/BASE64": any one matching the chain will do.
CREATE TABLE pins (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	pin TEXT NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	PRIMARY KEY (account_id, pin)
);
