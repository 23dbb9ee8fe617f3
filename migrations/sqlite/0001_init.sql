-- Control plane and data-plane bookkeeping. Times are Unix milliseconds, ids are
-- prefixed text ids (tnt_…, pair_…). Every tenant-owned row carries tenant_id.

CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    billing TEXT NOT NULL,
    -- NULL means unlimited
    production_pairs BIGINT,
    sandbox_pairs BIGINT,
    users BIGINT,
    transactions_per_month BIGINT,
    api_calls_per_minute BIGINT,
    fair_use_note TEXT NOT NULL DEFAULT '',
    position BIGINT NOT NULL
);

INSERT INTO plans VALUES
 ('trial', 'Trial', 0, 'free for 14 days', 0, 2, 3, 1000, 60, '', 1),
 ('connect', 'Connect', 59900, 'per month, billed annually', 1, 2, 10, NULL, 300, 'unlimited transactions within fair use (50,000 per month)', 2),
 ('growth', 'Growth', 129900, 'per month, billed annually', 3, 5, 25, NULL, 600, 'unlimited transactions within fair use (250,000 per month)', 3),
 ('enterprise', 'Enterprise', 0, 'custom contract', NULL, NULL, NULL, NULL, 3000, 'limits by contract', 4);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plan_id TEXT NOT NULL REFERENCES plans(id),
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id),
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id);

CREATE TABLE login_attempts (
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_attempts_subject ON login_attempts(subject, at);

CREATE TABLE tenant_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    key_id TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);

CREATE TABLE pairs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    erp TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX pairs_tenant ON pairs(tenant_id);

CREATE TABLE connections (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    system TEXT NOT NULL,
    base_url TEXT NOT NULL,
    settings TEXT NOT NULL,
    secret_ciphertext BLOB NOT NULL,
    secret_nonce BLOB NOT NULL,
    data_key_id TEXT NOT NULL,
    secret_names TEXT NOT NULL,
    webhook_id TEXT,
    last_test_at BIGINT,
    last_test_ok BIGINT,
    last_test_detail TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, system)
);

CREATE TABLE sandbox_credentials (
    pair_id TEXT PRIMARY KEY REFERENCES pairs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    clarity_client_id TEXT NOT NULL,
    clarity_client_secret TEXT NOT NULL,
    intacct_sender_id TEXT NOT NULL,
    intacct_sender_password TEXT NOT NULL,
    intacct_company_id TEXT NOT NULL,
    intacct_user_id TEXT NOT NULL,
    intacct_user_password TEXT NOT NULL,
    sagepro_api_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE templates (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, flow, version)
);

CREATE TABLE pair_flows (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    pinned_version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, flow)
);

-- The durable inbox: an event is here before its sender hears 2xx.
CREATE TABLE inbox (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    lease_owner TEXT,
    next_attempt_at BIGINT NOT NULL,
    -- when the row was last handed to the queue; the reconciler re-hands rows
    -- whose job the queue lost
    enqueued_at BIGINT,
    last_error TEXT,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (pair_id, event_id)
);
CREATE INDEX inbox_due ON inbox(status, next_attempt_at);

CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    inbox_id TEXT NOT NULL UNIQUE,
    flow TEXT NOT NULL,
    source_id TEXT,
    target_id TEXT,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    error_field TEXT,
    template_version BIGINT,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX runs_pair ON runs(pair_id, started_at);

CREATE TABLE run_attempts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (run_id, attempt)
);

-- source id <-> target id; unique per operation so nothing is created twice.
CREATE TABLE ledger (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    source_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    target_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, flow, source_id, operation)
);

CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    inbox_id TEXT NOT NULL,
    run_id TEXT,
    flow TEXT NOT NULL,
    source_id TEXT,
    reason TEXT NOT NULL,
    field TEXT,
    created_at BIGINT NOT NULL,
    replayed_at BIGINT
);
CREATE INDEX dead_letters_pair ON dead_letters(pair_id, created_at);

CREATE TABLE usage_counters (
    tenant_id TEXT NOT NULL,
    period TEXT NOT NULL,
    metric TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, period, metric)
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    actor_id TEXT,
    actor_email TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, at);

-- Fault settings of a sandbox pair's simulators, one row per system.
CREATE TABLE sandbox_faults (
    pair_id TEXT NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    system TEXT NOT NULL,
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, system)
);
