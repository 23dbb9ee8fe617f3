-- Mapping results the run and the dead letter keep (issue 5).
-- dead_letters.details: every validation issue of a record the mapping
-- refused, as a JSON array of {record, field, value, rule, message,
-- suggestion}; NULL for failures that are not validation issues.
ALTER TABLE dead_letters ADD COLUMN details TEXT;
-- runs.flags: what was flagged but did not block (fuzzy SKU matches,
-- anomalies), as a JSON array of {kind, field, message}; NULL for none.
ALTER TABLE runs ADD COLUMN flags TEXT;
