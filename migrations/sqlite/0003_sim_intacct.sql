-- The Sage Intacct simulator's state, one company per sandbox pair
-- (backend/src/sandbox/intacct). Every table is prefixed sim_intacct_.

-- Every record of every object (CUSTOMER, ITEM, SODOCUMENT, GLBATCH, ...) of a
-- pair's company. `fields` is the record as JSON (upper-case field names, values
-- as Intacct prints them); the other columns are what lookups filter on.
CREATE TABLE sim_intacct_objects (
    pair_id TEXT NOT NULL,
    object TEXT NOT NULL,
    recordno BIGINT NOT NULL,
    -- the business id (CUSTOMERID, ITEMID, DOCID for SODOCUMENT, ...), or the
    -- RECORDNO as text for objects without one
    object_id TEXT NOT NULL,
    -- SODOCUMENT: the transaction definition
    docparid TEXT,
    -- the external reference a client looks records up by: SODOCUMENT.PONUMBER,
    -- GLBATCH.REFERENCENO, ARPYMT.DOCNUMBER
    reference TEXT,
    fields TEXT NOT NULL,
    when_created BIGINT NOT NULL,
    when_modified BIGINT NOT NULL,
    PRIMARY KEY (pair_id, object, recordno),
    UNIQUE (pair_id, object, object_id)
);
CREATE INDEX sim_intacct_objects_reference ON sim_intacct_objects(pair_id, object, reference);
CREATE INDEX sim_intacct_objects_modified ON sim_intacct_objects(pair_id, object, when_modified);

-- Monotonic counters per company: 'recordno', and 'seq:<definition>' for
-- auto-numbered documents.
CREATE TABLE sim_intacct_counters (
    pair_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (pair_id, name)
);

-- API sessions from getAPISession; expires_at slides with every call.
CREATE TABLE sim_intacct_sessions (
    session_id TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sim_intacct_sessions_pair ON sim_intacct_sessions(pair_id);

-- Function control ids that completed under uniqueid=true. The primary key is
-- what makes a repeated control id lose the race, on either engine.
CREATE TABLE sim_intacct_control_ids (
    pair_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    control_id TEXT NOT NULL,
    function_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pair_id, company_id, sender_id, control_id)
);

-- readByQuery cursors for readMore: the matching RECORDNOs in order, and how
-- far the client has read.
CREATE TABLE sim_intacct_result_sets (
    result_id TEXT PRIMARY KEY,
    pair_id TEXT NOT NULL,
    object TEXT NOT NULL,
    fields TEXT NOT NULL,
    recordnos TEXT NOT NULL,
    position BIGINT NOT NULL,
    pagesize BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- API transactions per company and month, counted the way Intacct bills them.
CREATE TABLE sim_intacct_usage (
    pair_id TEXT NOT NULL,
    period TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (pair_id, period)
);
