-- Values of password fields, kept apart from requests.fields (which stores them masked) so that
-- no listing, detail view, audit row or log ever carries them. Deleted when the request ends.
CREATE TABLE request_secrets (
    request_id      uuid PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    fields          jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
