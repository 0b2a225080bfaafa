-- keyward schema version 3: attachment chunks leave the database.
--
-- Each committed attachment's chunks become one file in attachments/ beside
-- the database file (written by the migration's Go step, moveChunksToFiles,
-- before this SQL runs, in the same transaction). Chunk i is at offset
-- i*stride of the file; stored is the file's size. Only committed
-- attachments have rows now: an upload in progress is a .part file, so the
-- committed and touched columns go, and so do pending rows.

CREATE TABLE attachments_v3 (
	id          TEXT    PRIMARY KEY,
	entry_id    TEXT    NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	size        INTEGER NOT NULL CHECK (size >= 0),
	key_version INTEGER NOT NULL,
	header      BLOB    NOT NULL,
	chunks      INTEGER NOT NULL CHECK (chunks >= 0),
	stride      INTEGER NOT NULL CHECK (stride >= 0),
	stored      INTEGER NOT NULL CHECK (stored >= 0),
	created     INTEGER NOT NULL
) STRICT;

INSERT INTO attachments_v3 (id, entry_id, name, size, key_version, header, chunks, stride, stored, created)
	SELECT a.id, a.entry_id, a.name, max(a.size, 0), a.key_version, a.header, a.chunks,
		coalesce((SELECT length(c.data) FROM attachment_chunks c WHERE c.attachment_id = a.id AND c.idx = 0), 0),
		coalesce((SELECT sum(length(c.data)) FROM attachment_chunks c WHERE c.attachment_id = a.id), 0),
		a.created
	FROM attachments a WHERE a.committed = 1;

DROP TABLE attachment_chunks;
DROP TABLE attachments;
ALTER TABLE attachments_v3 RENAME TO attachments;

-- At most one attachment per name; also serves lookups by entry.
CREATE UNIQUE INDEX attachments_name ON attachments (entry_id, name);
