-- The record a change found by a poll is about, in its source
-- (`ITEM@WAREHOUSE`): changes of one subject run one at a time, in arrival
-- order, and a newer change supersedes one still waiting.
ALTER TABLE inbox ADD COLUMN subject TEXT;
CREATE INDEX inbox_subject ON inbox(pair_id, subject, received_at) WHERE subject IS NOT NULL;

-- One poll of a pair's flow at a time, across worker processes: a poll
-- holds its cursor with a lease.
ALTER TABLE flow_cursors ADD COLUMN lease_owner TEXT;
ALTER TABLE flow_cursors ADD COLUMN lease_until BIGINT;
