-- keyward schema version 1.
--
-- Plaintext columns hold only what must be searched or counted; everything
-- sensitive (wrapped keys, slot blobs, record and attachment ciphertext) is a
-- BLOB the store never interprets. Times are UTC unix nanoseconds.

CREATE TABLE meta (
	id            INTEGER PRIMARY KEY CHECK (id = 1),
	deployment_id TEXT    NOT NULL,
	created       INTEGER NOT NULL
) STRICT;

CREATE TABLE slots (
	id       INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	priority INTEGER NOT NULL,
	spec     TEXT    NOT NULL,
	blob     BLOB    NOT NULL,
	created  INTEGER NOT NULL
) STRICT;

CREATE TABLE databases (
	id      TEXT    PRIMARY KEY,
	name    TEXT    NOT NULL UNIQUE,
	created INTEGER NOT NULL
) STRICT;

CREATE TABLE data_keys (
	database_id TEXT    NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
	version     INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
	state       TEXT    NOT NULL CHECK (state IN ('primary', 'active', 'retired')),
	wrapped     BLOB    NOT NULL,
	created     INTEGER NOT NULL,
	encryptions INTEGER NOT NULL DEFAULT 0 CHECK (encryptions >= 0),
	PRIMARY KEY (database_id, version)
) STRICT;

-- At most one primary key per database.
CREATE UNIQUE INDEX data_keys_primary ON data_keys (database_id) WHERE state = 'primary';

CREATE TABLE entries (
	id          TEXT    NOT NULL UNIQUE,
	database_id TEXT    NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
	path        TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	tags        TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
	created     INTEGER NOT NULL,
	updated     INTEGER NOT NULL,
	revision    INTEGER NOT NULL CHECK (revision >= 1),
	key_version INTEGER NOT NULL,
	ciphertext  BLOB    NOT NULL,
	UNIQUE (database_id, path)
) STRICT;

CREATE INDEX entries_key_version ON entries (database_id, key_version);

-- An attachment is pending (committed = 0) while its chunks are written;
-- touched is the time of its last write and lets abandoned uploads be found.
-- Commit flips committed to 1; at most one committed attachment per name.
CREATE TABLE attachments (
	id          TEXT    PRIMARY KEY,
	entry_id    TEXT    NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	size        INTEGER NOT NULL DEFAULT 0,
	key_version INTEGER NOT NULL,
	header      BLOB    NOT NULL,
	chunks      INTEGER NOT NULL DEFAULT 0,
	created     INTEGER NOT NULL,
	committed   INTEGER NOT NULL DEFAULT 0 CHECK (committed IN (0, 1)),
	touched     INTEGER
) STRICT;

CREATE UNIQUE INDEX attachments_name ON attachments (entry_id, name) WHERE committed = 1;
CREATE INDEX attachments_entry ON attachments (entry_id);
CREATE INDEX attachments_pending ON attachments (touched) WHERE committed = 0;

CREATE TABLE attachment_chunks (
	attachment_id TEXT    NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
	idx           INTEGER NOT NULL CHECK (idx >= 0),
	data          BLOB    NOT NULL,
	PRIMARY KEY (attachment_id, idx)
) STRICT;
