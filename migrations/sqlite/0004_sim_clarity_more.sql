-- Clarity simulator, second part: returns (RMAs), creation times on the
-- catalog tables (for createdDateMin/Max), coupon versions (ETag, If-Match),
-- and inventory quantities with up to 4 decimal places (spec §1 "Formats").

-- Quantities become ten-thousandths of a unit, kept as integers so sums stay
-- exact on both databases; the column names say so.
ALTER TABLE sim_clarity_inventory RENAME COLUMN on_hand TO on_hand_e4;
ALTER TABLE sim_clarity_inventory RENAME COLUMN reserved TO reserved_e4;
UPDATE sim_clarity_inventory SET on_hand_e4 = on_hand_e4 * 10000, reserved_e4 = reserved_e4 * 10000;

ALTER TABLE sim_clarity_products ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE sim_clarity_products SET created_at = updated_at;
ALTER TABLE sim_clarity_customers ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE sim_clarity_customers SET created_at = updated_at;
ALTER TABLE sim_clarity_coupons ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE sim_clarity_coupons SET created_at = updated_at;
ALTER TABLE sim_clarity_coupons ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

CREATE TABLE sim_clarity_returns (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    return_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, return_id)
);
CREATE INDEX sim_clarity_returns_updated ON sim_clarity_returns(pair_id, updated_at, return_id);
CREATE INDEX sim_clarity_returns_order ON sim_clarity_returns(pair_id, order_id);
