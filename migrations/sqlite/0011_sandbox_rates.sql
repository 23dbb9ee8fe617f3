-- Sandbox pairs used to convert CAD<->USD with built-in rates the tenant
-- could not see. Those rates are now ordinary rows of the tenant's table,
-- added when a sandbox pair is created; tenants whose sandbox pairs predate
-- that get them here, for each direction they have no rate for, so their
-- CAD orders keep converting.
INSERT INTO currency_rates (tenant_id, from_currency, to_currency, effective_date, rate, created_at, created_by)
SELECT DISTINCT p.tenant_id, r.from_currency, r.to_currency, '2000-01-01', r.rate, CAST(strftime('%s', 'now') AS BIGINT) * 1000, 'sandbox'
FROM pairs p
CROSS JOIN (
    SELECT 'CAD' AS from_currency, 'USD' AS to_currency, '0.73' AS rate
    UNION ALL
    SELECT 'USD', 'CAD', '1.37'
) r
WHERE p.environment = 'sandbox'
  AND NOT EXISTS (
      SELECT 1 FROM currency_rates c
      WHERE c.tenant_id = p.tenant_id
        AND c.from_currency = r.from_currency
        AND c.to_currency = r.to_currency
  );
