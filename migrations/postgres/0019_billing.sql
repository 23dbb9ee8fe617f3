-- Plans carry every limit the product enforces, and each tenant holds one
-- subscription: its billing interval, status and current period. The plan
-- itself stays in tenants.plan_id, which every request already reads.

-- Requests a minute to our own /api/v1 per tenant; enabled flows per pair;
-- the multiple of transactions_per_month above which work is held (1: the
-- stated volume is a hard limit; 3: "unlimited within fair use"); the
-- interval the plan is billed at; the length of its free trial.
ALTER TABLE plans ADD COLUMN api_requests_per_minute BIGINT;
ALTER TABLE plans ADD COLUMN flows_per_pair BIGINT;
ALTER TABLE plans ADD COLUMN fair_use_multiple BIGINT NOT NULL DEFAULT 1;
ALTER TABLE plans ADD COLUMN billing_interval TEXT NOT NULL DEFAULT 'monthly';
ALTER TABLE plans ADD COLUMN trial_days BIGINT;

UPDATE plans SET api_requests_per_minute = 1200, sandbox_pairs = 3, trial_days = 14 WHERE id = 'trial';
UPDATE plans SET api_requests_per_minute = 3000, sandbox_pairs = 3, transactions_per_month = 50000,
    fair_use_multiple = 3, billing_interval = 'annual' WHERE id = 'connect';
UPDATE plans SET api_requests_per_minute = 6000, transactions_per_month = 250000,
    fair_use_multiple = 3, billing_interval = 'annual' WHERE id = 'growth';
UPDATE plans SET api_requests_per_minute = 12000, billing_interval = 'annual' WHERE id = 'enterprise';

CREATE TABLE subscriptions (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    billing_interval TEXT NOT NULL,
    -- trialing, active, past_due, canceled (suspension is tenants.status)
    status TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    trial_ends_at BIGINT,
    -- a downgrade waiting for the end of the period
    pending_plan_id TEXT REFERENCES plans(id),
    -- production work keeps running past a limit or the trial until then
    grace_until BIGINT,
    -- an operator lifted the holds for this usage period ('2026-12')
    holds_lifted_period TEXT,
    updated_at BIGINT NOT NULL
);

INSERT INTO subscriptions (tenant_id, billing_interval, status, period_start, period_end, trial_ends_at, updated_at)
SELECT id,
       CASE WHEN plan_id = 'trial' THEN 'monthly' ELSE 'annual' END,
       CASE WHEN plan_id = 'trial' THEN 'trialing' ELSE 'active' END,
       created_at,
       CASE WHEN plan_id = 'trial' THEN created_at + CAST(1209600000 AS BIGINT) ELSE created_at + CAST(31536000000 AS BIGINT) END,
       CASE WHEN plan_id = 'trial' THEN created_at + CAST(1209600000 AS BIGINT) END,
       created_at
FROM tenants;

-- An operator's limits for one tenant, over its plan's; NULL keeps the plan's.
CREATE TABLE limit_overrides (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    production_pairs BIGINT,
    sandbox_pairs BIGINT,
    users BIGINT,
    transactions_per_month BIGINT,
    api_requests_per_minute BIGINT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    reason TEXT NOT NULL
);

-- A colleague invited by e-mail: a signed, expiring, single-use link whose
-- token is stored only as its hash. An open invitation holds a user seat.
CREATE TABLE invites (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX invites_tenant ON invites(tenant_id, created_at);

-- Password resets: single use, short-lived, stored as the token's hash.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Mail that went nowhere because no SMTP server is configured: operators
-- read it at /admin/outbox, and tests read it there too.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_created ON outbox(created_at);

-- Work held by the plan (status 'held'): accepted and kept, not run, until
-- the hold no longer applies; then it runs in arrival order.
ALTER TABLE inbox ADD COLUMN held_reason TEXT;
ALTER TABLE inbox ADD COLUMN held_at BIGINT;
CREATE INDEX inbox_held ON inbox(tenant_id, received_at) WHERE status = 'held';

-- Operators take API tokens for /api/v1/admin/* like tenants do: a token
-- need not belong to a tenant.
ALTER TABLE api_tokens ALTER COLUMN tenant_id DROP NOT NULL;
