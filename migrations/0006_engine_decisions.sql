-- Operator decisions of the engine: a retried action gets a new generation (its correlation
-- key changes, so an executor does not find the failed run again), and GitHub faces may
-- record where a request came from.

ALTER TABLE request_actions ADD COLUMN generation integer NOT NULL DEFAULT 0;

ALTER TABLE requests DROP CONSTRAINT requests_source_check;
ALTER TABLE requests ADD CONSTRAINT requests_source_check
    CHECK (source IN ('api', 'bot', 'cli', 'issue', 'github-pr', 'github-issue'));

-- SQS backend: every job inserted by a connection that carries pao.queue_outbox=on gets an
-- outbox row in the same transaction (sent to SQS after commit, and by a reconciler).
CREATE FUNCTION pao_jobs_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pao.queue_outbox', true) = 'on' THEN
        INSERT INTO outbox (job_id, body)
        VALUES (NEW.id, jsonb_build_object('job_id', NEW.id, 'kind', NEW.kind,
                'delay', GREATEST(0, EXTRACT(EPOCH FROM NEW.run_after - now()))));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER jobs_outbox AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION pao_jobs_outbox();
