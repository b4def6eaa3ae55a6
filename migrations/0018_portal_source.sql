-- The self-service portal (issue 23) is a face of its own: a request submitted through its
-- pages says so (`source` = 'portal'), and so does the audit trail of its transactions.
ALTER TABLE requests DROP CONSTRAINT requests_source_check;
ALTER TABLE requests ADD CONSTRAINT requests_source_check
    CHECK (source IN ('api', 'bot', 'cli', 'issue', 'github-pr', 'github-issue', 'portal'));
