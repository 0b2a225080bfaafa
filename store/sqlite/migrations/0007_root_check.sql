-- keyward schema version 7: the check value of the current root key.
--
-- Writes of wrapped key material carry the check value of the root key
-- they were wrapped under, and are refused unless it is this one (see
-- package store, "Root key check"): a process that still holds a root key
-- another process rotated away cannot store a key nothing could unwrap.
-- Empty until the first write that carries one (a deployment initialised
-- before this migration); set by Init and by every root key rotation.
ALTER TABLE meta ADD COLUMN root_check BLOB NOT NULL DEFAULT x'';
