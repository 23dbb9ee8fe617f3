-- A new API token is shown once, on the GET that follows its creation
-- (POST → 303 → GET), never in the POST's own answer where a reload or the
-- back button would post again. Between the two it waits here, sealed with
-- the tenant's data key and bound to the session that created it; the GET
-- deletes the row as it reads it.
CREATE TABLE token_reveals (
    session_hash TEXT PRIMARY KEY REFERENCES sessions(id_hash) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    nonce BLOB NOT NULL,
    data_key_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
