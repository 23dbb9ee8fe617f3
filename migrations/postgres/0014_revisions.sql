-- Counters the sync engine's caches are checked against. Each change a
-- worker caches the result of (a template pinned, a connection saved, a rate
-- or an egress allowance changed, an order recorded in the history) bumps
-- its counter in the transaction of the change, so every worker process sees
-- it with the next record it claims and reloads only what changed, whichever
-- process made the change. `scope_id` is a pair id (its templates and
-- connections) or a tenant id (its rates and allowances; its order history).
CREATE TABLE revisions (
    scope_id TEXT PRIMARY KEY,
    inputs BIGINT NOT NULL DEFAULT 0,
    history BIGINT NOT NULL DEFAULT 0
);
