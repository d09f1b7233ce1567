-- The JSON API: bearer tokens (only their SHA-256 is kept) and the audit log
-- of every state-changing call.
CREATE TABLE api_tokens (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	hash TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the whole token
	created INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	last_used INTEGER
);

CREATE TABLE audit_log (
	id INTEGER PRIMARY KEY,
	time INTEGER NOT NULL DEFAULT (strftime('%s','now')),
	user TEXT NOT NULL,              -- the user name at the time (kept if the user goes)
	action TEXT NOT NULL,            -- e.g. quarantine.release, list.add, filter.set
	target TEXT NOT NULL,
	result TEXT NOT NULL             -- "ok" or the error
);
CREATE INDEX audit_log_time ON audit_log (time);
