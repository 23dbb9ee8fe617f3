-- A tenant's exchange rates: 1 `from_currency` = `rate` `to_currency` from
-- `effective_date` (YYYY-MM-DD) until the pair's next date. Rates are decimal
-- text so neither engine turns them into floating point.
CREATE TABLE currency_rates (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    rate TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, from_currency, to_currency, effective_date)
);

-- What anomaly checks compare a new order with: one summary row per order a
-- tenant has synced, pruned to a recent window so loading it is one bounded
-- query. Amounts are decimal text; `placed_at` is Unix milliseconds.
CREATE TABLE order_history (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    pair_id TEXT NOT NULL,
    customer_id TEXT,
    currency TEXT,
    total TEXT,
    max_quantity TEXT,
    fingerprint TEXT NOT NULL,
    placed_at BIGINT,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source_id)
);
-- `source_id` too: the window query's tie-break, so it reads the index in
-- order and stops after the window instead of sorting the tenant's rows.
CREATE INDEX order_history_recent ON order_history (tenant_id, recorded_at, source_id);

-- How often each customer ordered in each currency, over all time: the
-- window above is too short for a customer who orders once a quarter.
CREATE TABLE customer_currencies (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    orders BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, currency)
);
CREATE INDEX customer_currencies_recent ON customer_currencies (tenant_id, last_seen_at);
