-- Per-room statistics: likes (counted in memory by the nodes and added here about once a
-- second), page views, and who watched (one row per room and user, for unique viewers).

CREATE TABLE room_stats (
    live_id    TEXT PRIMARY KEY REFERENCES rooms (live_id),
    likes      BIGINT NOT NULL DEFAULT 0,
    page_views BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE room_viewers (
    live_id   TEXT NOT NULL REFERENCES rooms (live_id),
    user_id   TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (live_id, user_id)
);
