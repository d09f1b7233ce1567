-- A tagged (delivered) spam or unsure message may show a Subject prefix
-- ("[SPAM]"), inserted after "Subject:" as the message is served.
ALTER TABLE messages ADD COLUMN subject_prefix TEXT NOT NULL DEFAULT '';
