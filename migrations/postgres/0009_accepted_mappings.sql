-- What a tenant decided about mapping suggestions: each acceptance teaches
-- the ranking (suggest::AcceptedMappings), each rejection hides that pair of
-- fields from later suggestions. Keyed by ERP and flow, not by pair, so what
-- one pair taught carries over to the tenant's next pair of the same kind;
-- the pair is kept only to say where the decision was made.
CREATE TABLE accepted_mappings (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    pair_id TEXT NOT NULL,
    erp TEXT NOT NULL,
    flow TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accepted', 'rejected')),
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX accepted_mappings_tenant ON accepted_mappings(tenant_id, erp, flow);
