-- keyward schema version 4: long-running jobs (key regeneration).
--
-- spec, cursor and counts are JSON written by the job's kind: database ids,
-- target key versions, positions and counts, never a secret. owner and
-- heartbeat are the lease: one process runs a job at a time, and another
-- takes it over when the heartbeat (unix nanoseconds) is too old.
CREATE TABLE jobs (
	id        TEXT    PRIMARY KEY,
	kind      TEXT    NOT NULL,
	state     TEXT    NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'done', 'failed')),
	spec      TEXT    NOT NULL,
	cursor    TEXT    NOT NULL DEFAULT '',
	counts    TEXT    NOT NULL DEFAULT '',
	error     TEXT    NOT NULL DEFAULT '',
	owner     TEXT    NOT NULL DEFAULT '',
	heartbeat INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL,
	updated   INTEGER NOT NULL
) STRICT;

-- Re-encryption walks a database's entries in id order (key_version is not
-- in the index: a rewrite then updates one index per row, not two).
CREATE INDEX entries_rekey ON entries (database_id, id);
