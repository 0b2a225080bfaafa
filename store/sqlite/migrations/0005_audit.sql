-- keyward schema version 5: the audit log.
--
-- One row per operation, never updated or deleted (the triggers refuse it;
-- they stop mistakes, not someone who can write the file: see package
-- audit for what the hash chain does against that). seq runs 1, 2, 3, …;
-- prev is the hash of record seq-1 (32 zero bytes for record 1) and hash
-- is SHA-256 of the record's canonical encoding with prev (audit.Hash).
-- Fields hold names and codes only, never a secret.
CREATE TABLE audit (
	seq    INTEGER PRIMARY KEY CHECK (seq >= 1),
	time   INTEGER NOT NULL,
	actor  TEXT    NOT NULL,
	op     TEXT    NOT NULL,
	target TEXT    NOT NULL DEFAULT '',
	result TEXT    NOT NULL,
	prev   BLOB    NOT NULL,
	hash   BLOB    NOT NULL
) STRICT;

CREATE INDEX audit_time ON audit (time);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

-- The chain head: the last record's seq and hash, written in the
-- transaction that appends it, so that deleting the newest records shows.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  INTEGER NOT NULL CHECK (seq >= 1),
	hash BLOB    NOT NULL
) STRICT;
