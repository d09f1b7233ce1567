-- popgate core schema: users, upstream accounts, messages and their bodies,
-- allow/block lists.
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	pwhash TEXT NOT NULL,
	admin INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL DEFAULT (strftime('%s','now'))
);

CREATE TABLE accounts (
	id INTEGER PRIMARY KEY,
	owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	host TEXT NOT NULL,
	port INTEGER NOT NULL,
	tls TEXT NOT NULL CHECK (tls IN ('implicit', 'starttls')),
	login TEXT NOT NULL,
	secret BLOB NOT NULL,            -- AES-256-GCM sealed password
	ca_file TEXT,                    -- NULL: the system trust store
	auth TEXT NOT NULL DEFAULT 'auto',
	created INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	UNIQUE (owner_id, name)
);

-- state: pending, ham, spam, released, deleted, gone (see store.h)
CREATE TABLE messages (
	id INTEGER PRIMARY KEY,
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	uidl TEXT NOT NULL,
	size INTEGER NOT NULL,
	state TEXT NOT NULL,
	verdict TEXT,
	score REAL NOT NULL DEFAULT 0,
	reasons TEXT,
	added_headers TEXT NOT NULL DEFAULT '',
	from_addr TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	date TEXT NOT NULL DEFAULT '',
	fetched_at INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	UNIQUE (account_id, uidl)
);
CREATE INDEX messages_state ON messages (account_id, state);

CREATE TABLE bodies (
	message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	data BLOB NOT NULL
);

CREATE TABLE lists (
	kind TEXT NOT NULL CHECK (kind IN ('allow', 'block')),
	pattern TEXT NOT NULL COLLATE NOCASE,
	created INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	PRIMARY KEY (kind, pattern)
);
