-- Users, rooms and the webhook outbox.
--
-- Written in the SQL that SQLite and PostgreSQL both run alike: TEXT and BIGINT columns only
-- (no BOOLEAN, no timestamp types: times are Unix milliseconds), JSON kept as text, partial
-- indexes, CHECK constraints. Never edit it once released: add a new numbered file.

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    nick       TEXT NOT NULL DEFAULT '',
    avatar     TEXT NOT NULL DEFAULT '',
    extends    TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per broadcast. A deleted room keeps its row (deleted_at set) for history.
CREATE TABLE rooms (
    live_id      TEXT PRIMARY KEY,
    anchor_id    TEXT NOT NULL REFERENCES users (user_id),
    title        TEXT NOT NULL DEFAULT '',
    notice       TEXT NOT NULL DEFAULT '',
    cover_url    TEXT NOT NULL DEFAULT '',
    extends      TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL CHECK (status IN ('created', 'live', 'ended')),
    stream_name  TEXT NOT NULL UNIQUE,
    start_at     BIGINT,
    end_at       BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    expire_at    BIGINT NOT NULL,
    started_at   BIGINT,
    stopped_at   BIGINT,
    stop_reason  TEXT,
    deleted_at   BIGINT,
    peak_viewers BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX rooms_by_status ON rooms (status, created_at) WHERE deleted_at IS NULL;
CREATE INDEX rooms_by_anchor ON rooms (anchor_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX rooms_to_expire ON rooms (expire_at) WHERE status = 'created' AND deleted_at IS NULL;

-- Webhook events, written in the same transaction as the change they announce and delivered
-- at least once by whichever node takes them first.
CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT
);

CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE delivered_at IS NULL;
