-- Internal networks an operator allowed a tenant's production Sage Pro
-- connections to reach (an on-premises agent behind a VPN). Everything else
-- internal stays refused.
CREATE TABLE private_targets (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    network TEXT NOT NULL,
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, network)
);
