-- PAO core schema: catalog, requests, actions, audit, sessions.
-- Applied by `pao db migrate` inside one transaction; never edit after it has been applied.

CREATE OR REPLACE FUNCTION pao_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

-- Catalog items: the current version of every item known to PAO.
CREATE TABLE catalog_items (
    id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name            text NOT NULL,
    description     text NOT NULL,
    category        text NOT NULL,
    owner_team      text NOT NULL,
    tags            text[] NOT NULL DEFAULT '{}',
    version         text NOT NULL,
    lifecycle       text NOT NULL DEFAULT 'active'
                    CHECK (lifecycle IN ('active', 'deprecated', 'retired')),
    active          boolean NOT NULL DEFAULT true,   -- false once its file is deleted
    definition      jsonb NOT NULL,
    content_hash    text NOT NULL,
    source_path     text NOT NULL,
    git_sha         text,
    blob_sha        text,
    current_version_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_items_category_idx ON catalog_items (category) WHERE active;
CREATE INDEX catalog_items_owner_idx ON catalog_items (owner_team) WHERE active;
CREATE INDEX catalog_items_tags_idx ON catalog_items USING gin (tags);
CREATE TRIGGER catalog_items_touch BEFORE UPDATE ON catalog_items
    FOR EACH ROW EXECUTE FUNCTION pao_touch_updated_at();

-- Every version of every item ever synced; requests point at the exact one they used.
CREATE TABLE catalog_item_versions (
    id              bigserial PRIMARY KEY,
    item_id         text NOT NULL,
    version         text NOT NULL,
    content_hash    text NOT NULL,
    definition      jsonb NOT NULL,
    source_path     text NOT NULL,
    git_sha         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (item_id, content_hash)
);
CREATE INDEX catalog_item_versions_item_idx ON catalog_item_versions (item_id, created_at DESC);
ALTER TABLE catalog_items
    ADD CONSTRAINT catalog_items_current_version_fk
    FOREIGN KEY (current_version_id) REFERENCES catalog_item_versions (id);

-- Errors of the last sync, per file, served by GET /api/v1/catalog/validation-errors.
CREATE TABLE catalog_validation_errors (
    id              bigserial PRIMARY KEY,
    source_path     text NOT NULL,
    line            integer NOT NULL,
    column_number   integer NOT NULL,
    code            text NOT NULL,
    message         text NOT NULL,
    pointer         text NOT NULL DEFAULT '',
    severity        text NOT NULL DEFAULT 'error' CHECK (severity IN ('error', 'warning')),
    git_sha         text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_validation_errors_path_idx ON catalog_validation_errors (source_path);

CREATE TABLE requests (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    catalog_item_id     text NOT NULL REFERENCES catalog_items (id),
    catalog_version_id  bigint NOT NULL REFERENCES catalog_item_versions (id),
    catalog_item_version text NOT NULL,
    status              text NOT NULL DEFAULT 'submitted'
                        CHECK (status IN ('submitted', 'validating', 'queued', 'in_progress',
                                          'completed', 'failed', 'aborted', 'escalated')),
    fields              jsonb NOT NULL DEFAULT '{}'::jsonb,   -- password values stored masked
    title               text,
    justification       text,
    requester_email     text NOT NULL,
    requester_name      text,
    requester_teams     text[] NOT NULL DEFAULT '{}',
    source              text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'bot', 'cli', 'issue')),
    correlation_id      text NOT NULL,
    error_context       jsonb,
    abort_reason        text,
    aborted_at          timestamptz,
    escalation_ticket   text,
    escalation_url      text,
    escalated_at        timestamptz,
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requests_page_idx ON requests (created_at DESC, id DESC);
CREATE INDEX requests_status_idx ON requests (status, created_at DESC);
CREATE INDEX requests_item_idx ON requests (catalog_item_id, created_at DESC);
CREATE INDEX requests_requester_idx ON requests (requester_email, created_at DESC);
CREATE INDEX requests_teams_idx ON requests USING gin (requester_teams);
CREATE TRIGGER requests_touch BEFORE UPDATE ON requests
    FOR EACH ROW EXECUTE FUNCTION pao_touch_updated_at();

CREATE TABLE request_actions (
    id              bigserial PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    position        integer NOT NULL CHECK (position >= 0),
    action_id       text NOT NULL,
    action_type     text NOT NULL
                    CHECK (action_type IN ('jira-ticket', 'rest-api', 'terraform', 'github-workflow', 'manual')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'retrying', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 5),
    rendered_config jsonb,      -- masked copy, for display
    outputs         jsonb NOT NULL DEFAULT '{}'::jsonb,
    external_ref    text,
    external_url    text,
    error           jsonb,
    next_poll_at    timestamptz,
    deadline_at     timestamptz,
    started_at      timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, action_id),
    UNIQUE (request_id, position)
);
CREATE INDEX request_actions_poll_idx ON request_actions (next_poll_at)
    WHERE status = 'in_progress' AND next_poll_at IS NOT NULL;
CREATE TRIGGER request_actions_touch BEFORE UPDATE ON request_actions
    FOR EACH ROW EXECUTE FUNCTION pao_touch_updated_at();

-- Step events of a request (rendered config, attempts, responses, durations), in order.
CREATE TABLE request_logs (
    id              bigserial PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    action_id       text,
    level           text NOT NULL DEFAULT 'info' CHECK (level IN ('debug', 'info', 'warning', 'error')),
    event           text NOT NULL,
    message         text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    correlation_id  text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX request_logs_request_idx ON request_logs (request_id, id);

-- Audit trail. Rows come from the trigger below (every change of the audited tables) and from
-- the application (decisions, with who and why). The session settings pao.actor,
-- pao.correlation_id and pao.source, set per transaction by the store, say who did it.
CREATE TABLE audit_logs (
    id              bigserial PRIMARY KEY,
    table_name      text NOT NULL,
    row_id          text NOT NULL,
    operation       text NOT NULL,   -- INSERT / UPDATE / DELETE, or an application event name
    actor           text,
    correlation_id  text,
    source          text,
    old_data        jsonb,
    new_data        jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_logs_row_idx ON audit_logs (table_name, row_id, id);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at DESC, id DESC);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor, created_at DESC);

CREATE OR REPLACE FUNCTION pao_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
BEGIN
    IF TG_OP = 'UPDATE' AND old_row - 'updated_at' = new_row - 'updated_at' THEN
        RETURN NEW;  -- nothing but the timestamp changed
    END IF;
    INSERT INTO audit_logs (table_name, row_id, operation, actor, correlation_id, source, old_data, new_data)
    VALUES (
        TG_TABLE_NAME,
        COALESCE(new_row ->> 'id', old_row ->> 'id'),
        TG_OP,
        NULLIF(current_setting('pao.actor', true), ''),
        NULLIF(current_setting('pao.correlation_id', true), ''),
        NULLIF(current_setting('pao.source', true), ''),
        old_row,
        new_row
    );
    RETURN COALESCE(NEW, OLD);
END;
$$;

CREATE TRIGGER requests_audit AFTER INSERT OR UPDATE OR DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION pao_audit();
CREATE TRIGGER request_actions_audit AFTER INSERT OR UPDATE OR DELETE ON request_actions
    FOR EACH ROW EXECUTE FUNCTION pao_audit();
CREATE TRIGGER catalog_items_audit AFTER INSERT OR UPDATE OR DELETE ON catalog_items
    FOR EACH ROW EXECUTE FUNCTION pao_audit();

-- API tokens and sessions; only a hash of the secret is stored.
CREATE TABLE user_sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash      text NOT NULL UNIQUE,
    user_email      text NOT NULL,
    user_name       text,
    teams           text[] NOT NULL DEFAULT '{}',
    roles           text[] NOT NULL DEFAULT '{}',
    description     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    last_used_at    timestamptz
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_email);
CREATE INDEX user_sessions_expiry_idx ON user_sessions (expires_at);
