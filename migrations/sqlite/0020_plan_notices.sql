-- Warnings sent for a tenant's period: at 80 % and 100 % of the plan's
-- transactions, and when work starts being held. One row each, so each is
-- sent (mail, audit row, metric) once per period, by whichever process
-- inserts it first.
CREATE TABLE plan_notices (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    period TEXT NOT NULL,
    threshold BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, period, threshold)
);

-- A plan may price transactions past its included volume (per 1,000, in
-- cents); NULL: within fair use they cost nothing more.
ALTER TABLE plans ADD COLUMN overage_cents_per_1000 BIGINT;
