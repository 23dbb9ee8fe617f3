-- Records kept in step in both systems (customers): what was last written
-- to the other side, as JSON, so a change that only echoes our own write
-- is recognised and skipped. NULL for one-way writes.
ALTER TABLE ledger ADD COLUMN content TEXT;
