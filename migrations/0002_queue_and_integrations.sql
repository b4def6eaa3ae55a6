-- Work queue, idempotency, GitHub webhook deliveries and request <-> GitHub links.

-- One queue, several job kinds. Jobs are inserted in the same transaction as the state change
-- that needs them; workers claim with FOR UPDATE SKIP LOCKED and hold a lease (locked_until).
CREATE TABLE jobs (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,            -- run-action, poll-action, webhook, notify, catalog-sync
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id      uuid REFERENCES requests (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'ready'
                    CHECK (status IN ('ready', 'running', 'done', 'dead')),
    run_after       timestamptz NOT NULL DEFAULT now(),
    receives        integer NOT NULL DEFAULT 0,
    max_receives    integer NOT NULL DEFAULT 3 CHECK (max_receives >= 1),
    locked_by       text,
    locked_until    timestamptz,
    last_error      text,
    dedupe_key      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX jobs_claim_idx ON jobs (run_after, id) WHERE status = 'ready';
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_request_idx ON jobs (request_id);
CREATE UNIQUE INDEX jobs_dedupe_idx ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('ready', 'running');
CREATE TRIGGER jobs_touch BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION pao_touch_updated_at();

-- Messages to send to an external queue (SQS) after commit; drained by a reconciler.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    job_id          bigint REFERENCES jobs (id) ON DELETE CASCADE,
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE sent_at IS NULL;

-- Idempotency-Key of POST /api/v1/requests (and other unsafe endpoints).
CREATE TABLE idempotency_keys (
    scope           text NOT NULL,            -- e.g. 'POST /api/v1/requests' + principal
    key             text NOT NULL,
    request_hash    text NOT NULL,            -- hash of the request body
    response_status integer,
    response_body   jsonb,
    response_headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

CREATE TABLE webhook_deliveries (
    delivery_id     text PRIMARY KEY,         -- X-GitHub-Delivery
    event           text NOT NULL,
    action          text,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received', 'processing', 'processed', 'failed', 'ignored')),
    attempts        integer NOT NULL DEFAULT 0,
    error           text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz
);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at DESC);

-- Which GitHub thread (PR or issue) a request came from, and where its comments live.
CREATE TABLE request_links (
    id              bigserial PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('pull_request', 'issue', 'jira')),
    repository      text,                     -- owner/name
    number          integer,
    path            text,                     -- request file path, for PRs
    blob_sha        text,
    external_key    text,                     -- e.g. JIRA key
    status_comment_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_links_request_idx ON request_links (request_id);
CREATE INDEX request_links_thread_idx ON request_links (repository, number);
CREATE UNIQUE INDEX request_links_pr_file_idx ON request_links (repository, path, blob_sha)
    WHERE kind = 'pull_request';
