-- Dashboard sessions: the browser holds a random cookie, only its SHA-256 is
-- kept; csrf is the token every state-changing call must echo in X-CSRF-Token.
CREATE TABLE web_sessions (
	id INTEGER PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the cookie value
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	csrf TEXT NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires);
