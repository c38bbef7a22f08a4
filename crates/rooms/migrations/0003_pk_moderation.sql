-- PK sessions between two live rooms, and moderation: anchors banned from broadcasting, users
-- kicked from or muted in a room, and the note an operator leaves when stopping a room.
--
-- Self-contained (it needs only the tables of the first migration), in the same portable SQL.
-- Never edit it once released: add a new numbered file.

-- One row per PK. status: invited -> active | rejected | timeout | ended; active -> ended.
-- A room takes part in at most one session that is invited or active: the store checks that
-- while holding both rooms' rows, so two nodes cannot pair one room twice.
CREATE TABLE pk_sessions (
    pk_id          TEXT PRIMARY KEY,
    init_room_id   TEXT NOT NULL REFERENCES rooms (live_id),
    recv_room_id   TEXT NOT NULL REFERENCES rooms (live_id),
    init_anchor_id TEXT NOT NULL,
    recv_anchor_id TEXT NOT NULL,
    status         TEXT NOT NULL
        CHECK (status IN ('invited', 'active', 'rejected', 'timeout', 'ended')),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    -- An invitation still unanswered at this time times out.
    answer_by      BIGINT NOT NULL,
    started_at     BIGINT,
    ended_at       BIGINT,
    -- Why an active or invited session ended: stopped (by an anchor), room_ended.
    end_reason     TEXT,
    -- Who stopped it (an anchor's user id), when an anchor did.
    stopped_by     TEXT,
    CHECK (init_room_id <> recv_room_id)
);

CREATE INDEX pk_sessions_open ON pk_sessions (status) WHERE status IN ('invited', 'active');
CREATE INDEX pk_sessions_init ON pk_sessions (init_room_id);
CREATE INDEX pk_sessions_recv ON pk_sessions (recv_room_id);

-- An anchor who may not create, start or publish rooms; until_at NULL means until lifted.
CREATE TABLE anchor_bans (
    user_id    TEXT PRIMARY KEY REFERENCES users (user_id),
    reason     TEXT NOT NULL DEFAULT '',
    until_at   BIGINT,
    banned_by  TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Kicks (re-joining refused until until_at) and mutes (no likes or gifts until until_at) of
-- one user in one room; a newer one replaces the older of its kind.
CREATE TABLE room_sanctions (
    live_id    TEXT NOT NULL REFERENCES rooms (live_id),
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('kick', 'mute')),
    until_at   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    by_whom    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (live_id, user_id, kind)
);

CREATE INDEX room_sanctions_until ON room_sanctions (until_at);

-- What an operator wrote when stopping a room (its stop_reason stays admin).
ALTER TABLE rooms ADD COLUMN stop_note TEXT;
