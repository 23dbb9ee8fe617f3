-- Each flow of a pair is switched on or off by the tenant; a polling flow
-- runs every `interval_s` seconds. Orders were the only flow that ran before,
-- so they stay on; every other flow starts off until the tenant turns it on.
ALTER TABLE pair_flows ADD COLUMN enabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pair_flows ADD COLUMN interval_s BIGINT NOT NULL DEFAULT 300;
-- Customers only: which side wins when both changed (`erp_wins`,
-- `clarity_wins`, `newest_wins`).
ALTER TABLE pair_flows ADD COLUMN conflict_rule TEXT;
ALTER TABLE pair_flows ADD COLUMN next_poll_at BIGINT;
ALTER TABLE pair_flows ADD COLUMN last_poll_at BIGINT;
UPDATE pair_flows SET enabled = 1 WHERE flow = 'orders';

-- How far each polling flow of a pair has read its source: the connector's
-- checkpoint (last modified time seen and the ids already taken at it), as
-- JSON. Moved only in the transaction that stores the page's records.
CREATE TABLE flow_cursors (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    position TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, flow)
);
