-- Chat and danmaku messages of live rooms: the room's recent history, shared by every node on
-- one database.
--
-- Same portable SQL as 0001 (TEXT and BIGINT only, times in Unix ms). Never edit it once
-- released: add a new numbered file.

-- One row per message. message_id starts with its time in 12 hex digits, so ordering by it is
-- ordering by time (two messages of one millisecond from one node keep their order, from two
-- nodes they are in any order). user_id is "" for a
-- system message from the app's server. style is the danmaku style as JSON text, or NULL.
-- recalled_at is set once when the message is withdrawn; history leaves recalled ones out.
CREATE TABLE room_messages (
    message_id    TEXT PRIMARY KEY,
    live_id       TEXT NOT NULL REFERENCES rooms (live_id),
    user_id       TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('chat', 'danmaku')),
    text          TEXT NOT NULL,
    style         TEXT,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'anchor', 'admin', 'system')),
    client_msg_id TEXT,
    created_at    BIGINT NOT NULL,
    recalled_at   BIGINT
);

-- A sender's retry carries the same client_msg_id: this key makes every node sharing the
-- database find the first row instead of writing a second (NULLs never collide, so messages
-- without an id are not deduplicated).
CREATE UNIQUE INDEX room_messages_client ON room_messages (live_id, user_id, client_msg_id);

-- History pages and the prune of a room's oldest rows.
CREATE INDEX room_messages_room ON room_messages (live_id, message_id);
