-- keyward schema version 2: API tokens and the maintenance switch.

-- A token's secret is never stored: hash is a digest of it. databases is a
-- JSON array of database names ('[]': every database). expires is NULL for a
-- token that does not expire.
CREATE TABLE tokens (
	id        TEXT    PRIMARY KEY,
	name      TEXT    NOT NULL DEFAULT '',
	role      TEXT    NOT NULL CHECK (role IN ('admin', 'writer', 'reader')),
	databases TEXT    NOT NULL DEFAULT '[]',
	hash      BLOB    NOT NULL,
	created   INTEGER NOT NULL,
	expires   INTEGER
) STRICT;

-- One row at most; no row means maintenance was never switched on.
CREATE TABLE maintenance (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	reason  TEXT    NOT NULL DEFAULT '',
	since   INTEGER NOT NULL
) STRICT;
