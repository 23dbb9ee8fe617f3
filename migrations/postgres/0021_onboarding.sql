-- The onboarding wizard's progress per tenant: the step it is on, the path
-- chosen (sandbox or the tenant's own systems), the pair it set up, and
-- when it was finished (NULL: the dashboard shows "Continue setup").
CREATE TABLE onboarding (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    step TEXT NOT NULL,
    path TEXT,
    erp TEXT,
    pair_id TEXT,
    completed_at BIGINT,
    updated_at BIGINT NOT NULL
);
