-- Sent outbox rows are pruned after PAO_RETENTION_OUTBOX_HOURS (the SQS relay and
-- `pao maintenance`): this index finds the old ones without scanning the recent ones.
CREATE INDEX outbox_sent_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;
