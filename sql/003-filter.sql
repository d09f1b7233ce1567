-- The spam filter: Bayes token counts, training records, settings, and the
-- per-account spam policy.

-- One row per token, keyed by tokenize_hash() of its text (a signed 64-bit
-- integer). last_seen is a day number (Unix time / 86400) for expiry.
CREATE TABLE bayes_tokens (
	hash INTEGER PRIMARY KEY,
	spam INTEGER NOT NULL DEFAULT 0,
	ham INTEGER NOT NULL DEFAULT 0,
	last_seen INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Message totals. generation grows with every training write so that a
-- process holding counts in memory knows when they went stale.
CREATE TABLE bayes_meta (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	nspam INTEGER NOT NULL DEFAULT 0,
	nham INTEGER NOT NULL DEFAULT 0,
	generation INTEGER NOT NULL DEFAULT 0
);
INSERT INTO bayes_meta (id, nspam, nham, generation) VALUES (1, 0, 0, 0);

-- How a stored message was trained, so that a later correction untrains
-- the earlier class first and a message never counts twice.
CREATE TABLE filter_training (
	message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
	class TEXT NOT NULL CHECK (class IN ('spam', 'ham')),
	trained_at INTEGER NOT NULL
);

-- Filter settings changed at run time (cut-offs, rule weights, DNSBL and
-- URIBL zones, trusted networks); absent keys take the built-in defaults.
CREATE TABLE filter_settings (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

-- Per account: what happens to spam. 'quarantine' hides it from the client
-- and keeps it here; 'tag' delivers it with X-Spam-* headers (and the
-- subject prefix, if set). Unsure mail is always delivered and tagged.
ALTER TABLE accounts ADD COLUMN spam_policy TEXT NOT NULL DEFAULT 'quarantine'
	CHECK (spam_policy IN ('quarantine', 'tag'));
ALTER TABLE accounts ADD COLUMN spam_subject_prefix TEXT;
-- Quarantined messages older than this many days are deleted (0: never).
ALTER TABLE accounts ADD COLUMN quarantine_days INTEGER NOT NULL DEFAULT 30;
-- Whether deleting quarantined spam also deletes it upstream.
ALTER TABLE accounts ADD COLUMN spam_delete_upstream INTEGER NOT NULL DEFAULT 0;
