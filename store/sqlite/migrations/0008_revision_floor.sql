-- keyward schema version 8: revisions never restart.
--
-- A client holding revision N of an entry must not be able to overwrite a
-- different entry that was created at the same path after a delete: its
-- compare-and-swap would match the new entry's revision 1 as easily as the
-- old one's. So each database keeps the highest revision of any entry
-- deleted from it, and a new entry starts one above it.
--
-- Revisions of entries deleted before this migration are not known; a
-- migrated database starts at the highest revision it still stores, which
-- covers every deleted one no higher than that.
ALTER TABLE databases ADD COLUMN revision_floor INTEGER NOT NULL DEFAULT 0 CHECK (revision_floor >= 0);
UPDATE databases SET revision_floor =
	coalesce((SELECT max(revision) FROM entries WHERE entries.database_id = databases.id), 0);
