-- Catalog sync from a git repository: what the last poll saw (commit and ETag, so a poll with
-- no change costs one conditional request), and every catalog file's blob SHA and text, so a
-- commit that changes one file fetches one blob and the whole catalog is validated again.

CREATE TABLE catalog_sync_state (
    source          text PRIMARY KEY,          -- e.g. github:acme/catalog@main:catalog/
    commit_sha      text,
    etag            text,
    synced_at       timestamptz,
    last_error      text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE catalog_source_files (
    source          text NOT NULL,
    path            text NOT NULL,
    blob_sha        text NOT NULL,
    content         text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, path)
);
