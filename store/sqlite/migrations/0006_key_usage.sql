-- keyward schema version 6: entry counts per key version in a table kept
-- by triggers, instead of the index entries_key_version.
--
-- Re-encrypting an entry changes its key_version. With an index on it,
-- every rewritten row also moved one entry of that index (a delete and an
-- insert in a B-tree as large as the table has rows), which halved the
-- rate of a key regeneration. The counts below cost two updates of a
-- table of a few rows instead, and still answer "how many entries use
-- version N of database D" at once (status, metrics, the end of a
-- regeneration). What must be exact before something is destroyed
-- (keys destroy) is checked by scanning the entries themselves.
--
-- The triggers see every change SQLite makes to entries, including
-- upserts (an update fires the UPDATE trigger) and deletions cascading
-- from a database; a count never goes below zero (the CHECK fails the
-- statement that would make it so: a miscount stops a write rather than
-- hide rows).
CREATE TABLE entry_key_usage (
	database_id TEXT    NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
	key_version INTEGER NOT NULL,
	entries     INTEGER NOT NULL CHECK (entries >= 0),
	PRIMARY KEY (database_id, key_version)
) STRICT, WITHOUT ROWID;

INSERT INTO entry_key_usage (database_id, key_version, entries)
	SELECT database_id, key_version, count(*) FROM entries GROUP BY database_id, key_version;

CREATE TRIGGER entries_usage_insert AFTER INSERT ON entries
BEGIN
	INSERT INTO entry_key_usage (database_id, key_version, entries)
		VALUES (NEW.database_id, NEW.key_version, 1)
		ON CONFLICT (database_id, key_version) DO UPDATE SET entries = entries + 1;
END;

CREATE TRIGGER entries_usage_delete AFTER DELETE ON entries
BEGIN
	UPDATE entry_key_usage SET entries = entries - 1
		WHERE database_id = OLD.database_id AND key_version = OLD.key_version;
END;

CREATE TRIGGER entries_usage_update AFTER UPDATE OF database_id, key_version ON entries
	WHEN OLD.database_id IS NOT NEW.database_id OR OLD.key_version IS NOT NEW.key_version
BEGIN
	UPDATE entry_key_usage SET entries = entries - 1
		WHERE database_id = OLD.database_id AND key_version = OLD.key_version;
	INSERT INTO entry_key_usage (database_id, key_version, entries)
		VALUES (NEW.database_id, NEW.key_version, 1)
		ON CONFLICT (database_id, key_version) DO UPDATE SET entries = entries + 1;
END;

DROP INDEX entries_key_version;
