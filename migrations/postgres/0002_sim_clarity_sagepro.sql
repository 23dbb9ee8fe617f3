-- Sandbox simulators of Clarity eCommerce (sim_clarity_*) and Sage Pro
-- (sim_sagepro_*), one data set per sandbox pair. Times are Unix milliseconds;
-- documents are JSON text, with the columns that lists filter and sort on
-- copied out beside them.

-- Clarity ---------------------------------------------------------------------

-- Issued bearer tokens, stored by SHA-256 so a database dump is not a login.
CREATE TABLE sim_clarity_tokens (
    token_hash TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sim_clarity_tokens_pair ON sim_clarity_tokens(pair_id, expires_at);

-- Per-pair sequences (order numbers, shipments, returns …).
CREATE TABLE sim_clarity_counters (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (pair_id, name)
);

CREATE TABLE sim_clarity_orders (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    order_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, order_id)
);
CREATE INDEX sim_clarity_orders_updated ON sim_clarity_orders(pair_id, updated_at, order_id);

CREATE TABLE sim_clarity_products (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    product_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, product_id),
    UNIQUE (pair_id, sku)
);
CREATE INDEX sim_clarity_products_updated ON sim_clarity_products(pair_id, updated_at, product_id);

CREATE TABLE sim_clarity_customers (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, customer_id),
    UNIQUE (pair_id, email_lower)
);
CREATE INDEX sim_clarity_customers_updated ON sim_clarity_customers(pair_id, updated_at, customer_id);

CREATE TABLE sim_clarity_inventory (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    location_id TEXT NOT NULL,
    on_hand BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    backorderable BIGINT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, sku, location_id)
);
CREATE INDEX sim_clarity_inventory_updated ON sim_clarity_inventory(pair_id, updated_at);

CREATE TABLE sim_clarity_coupons (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    code_lower TEXT NOT NULL,
    body TEXT NOT NULL,
    times_used BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, code_lower)
);

CREATE TABLE sim_clarity_shipments (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    shipment_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, shipment_id)
);
CREATE INDEX sim_clarity_shipments_order ON sim_clarity_shipments(pair_id, order_id);

-- Stored answers of POSTs sent with an Idempotency-Key (spec §6).
CREATE TABLE sim_clarity_idempotency (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    route TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, route, idem_key)
);

CREATE TABLE sim_clarity_webhooks (
    webhook_id TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT,
    secret TEXT NOT NULL,
    -- During a rotation overlap the old secret still signs, until this time.
    previous_secret TEXT,
    previous_until BIGINT,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX sim_clarity_webhooks_pair ON sim_clarity_webhooks(pair_id);

-- Every event the store emitted (the outbox's content).
CREATE TABLE sim_clarity_events (
    event_id TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sim_clarity_events_pair ON sim_clarity_events(pair_id, created_at);

-- The outbox: one row per (event, subscription), worked by the dispatcher.
CREATE TABLE sim_clarity_deliveries (
    delivery_id TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL REFERENCES sim_clarity_events(event_id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX sim_clarity_deliveries_due ON sim_clarity_deliveries(status, next_attempt_at);
CREATE INDEX sim_clarity_deliveries_pair ON sim_clarity_deliveries(pair_id, created_at);

CREATE TABLE sim_clarity_delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES sim_clarity_deliveries(delivery_id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Sage Pro --------------------------------------------------------------------

CREATE TABLE sim_sagepro_counters (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (pair_id, name)
);

CREATE TABLE sim_sagepro_terms (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    description TEXT NOT NULL,
    due_days BIGINT NOT NULL,
    PRIMARY KEY (pair_id, code)
);

CREATE TABLE sim_sagepro_warehouses (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (pair_id, code)
);

CREATE TABLE sim_sagepro_customers (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    customer_no TEXT NOT NULL,
    email_lower TEXT,
    body TEXT NOT NULL,
    row_version BIGINT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (pair_id, customer_no),
    UNIQUE (pair_id, email_lower)
);
CREATE INDEX sim_sagepro_customers_modified ON sim_sagepro_customers(pair_id, last_modified, customer_no);

CREATE TABLE sim_sagepro_items (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    item_code TEXT NOT NULL,
    body TEXT NOT NULL,
    row_version BIGINT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (pair_id, item_code)
);
CREATE INDEX sim_sagepro_items_modified ON sim_sagepro_items(pair_id, last_modified, item_code);

-- Quantities in ten-thousandths (N(12,4)) so that sums stay exact integers.
CREATE TABLE sim_sagepro_inventory (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    item_code TEXT NOT NULL,
    warehouse TEXT NOT NULL,
    qty_on_hand BIGINT NOT NULL,
    qty_committed BIGINT NOT NULL,
    qty_on_order BIGINT NOT NULL,
    reorder_point BIGINT NOT NULL,
    row_version BIGINT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (pair_id, item_code, warehouse)
);
CREATE INDEX sim_sagepro_inventory_modified ON sim_sagepro_inventory(pair_id, last_modified);

CREATE TABLE sim_sagepro_orders (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    sales_order_no TEXT NOT NULL,
    customer_no TEXT NOT NULL,
    status TEXT NOT NULL,
    order_date TEXT NOT NULL,
    customer_po TEXT NOT NULL,
    external_order_id TEXT,
    body TEXT NOT NULL,
    row_version BIGINT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (pair_id, sales_order_no),
    UNIQUE (pair_id, external_order_id)
);
CREATE INDEX sim_sagepro_orders_modified ON sim_sagepro_orders(pair_id, last_modified, sales_order_no);

CREATE TABLE sim_sagepro_invoices (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    invoice_no TEXT NOT NULL,
    invoice_type TEXT NOT NULL,
    customer_no TEXT NOT NULL,
    sales_order_no TEXT,
    status TEXT NOT NULL,
    invoice_date TEXT NOT NULL,
    body TEXT NOT NULL,
    row_version BIGINT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (pair_id, invoice_no)
);
CREATE INDEX sim_sagepro_invoices_modified ON sim_sagepro_invoices(pair_id, last_modified, invoice_no);

-- Idempotency records (spec §6): (pair, key) → body hash and the stored answer.
CREATE TABLE sim_sagepro_idempotency (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    idem_key TEXT NOT NULL,
    route TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    status_code BIGINT,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, idem_key)
);
