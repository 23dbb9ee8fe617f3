-- API tokens may carry an expiry (epoch ms; NULL never expires). A token is
-- refused from that moment on, in every process, since each request reads
-- the token's row.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
