-- Sage Pro simulator, second part: API keys with scopes, the tax code table,
-- and the adjustment transactions a physical count records (spec §1, §3.4).

-- Keys besides the sandbox's own (which has read and write): stored by
-- SHA-256 so a database dump is not a login. Scopes: read, write, assign-numbers.
CREATE TABLE sim_sagepro_api_keys (
    key_hash TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sim_sagepro_api_keys_pair ON sim_sagepro_api_keys(pair_id);

CREATE TABLE sim_sagepro_tax_codes (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    -- Percent in hundredths (8.25 % = 825).
    rate_bp BIGINT NOT NULL,
    PRIMARY KEY (pair_id, code)
);

-- Quantities in ten-thousandths, as in sim_sagepro_inventory.
CREATE TABLE sim_sagepro_adjustments (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    adjustment_no BIGINT NOT NULL,
    item_code TEXT NOT NULL,
    warehouse TEXT NOT NULL,
    qty_before BIGINT NOT NULL,
    qty_after BIGINT NOT NULL,
    reason TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, adjustment_no)
);

-- What each order line holds of QtyCommitted (ten-thousandths), so an update
-- or a shipment releases exactly what the line took (a backordered line
-- holds less than it asks for).
CREATE TABLE sim_sagepro_commitments (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    sales_order_no TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    item_code TEXT NOT NULL,
    warehouse TEXT NOT NULL,
    qty BIGINT NOT NULL,
    PRIMARY KEY (pair_id, sales_order_no, line_no)
);
