-- keyward schema version 4: a placeholder on the audit branch only.
--
-- Migration numbers must run without gaps, and number 4 belongs to the
-- re-encryption jobs built on another branch. At merge, that branch's
-- 0004 replaces this file; nothing here creates or changes anything.
SELECT 1;
