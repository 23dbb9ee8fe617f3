-- "Backfill from date X": a poll of a flow that reads from `since_ms`
-- instead of the flow's cursor, once. The changes it queues carry its id
-- in `inbox.batch`, so its progress is counted from the inbox.
CREATE TABLE backfills (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    flow TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    -- pending: waiting for its poll; read: its changes are queued.
    status TEXT NOT NULL,
    found BIGINT NOT NULL DEFAULT 0,
    queued BIGINT NOT NULL DEFAULT 0,
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX backfills_flow ON backfills(pair_id, flow, created_at);

ALTER TABLE inbox ADD COLUMN batch TEXT;
CREATE INDEX inbox_batch ON inbox(batch) WHERE batch IS NOT NULL;
