-- aws-iam tokens are single use across every API instance: the SigV4 signatures already
-- accepted, each kept until it could no longer pass the 5-minute freshness check anyway.
CREATE TABLE used_signatures (
    signature  text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX used_signatures_expires_idx ON used_signatures (expires_at);
