-- Gifts: the catalogue viewers pick from, and the ledger of every gift sent.
--
-- Same SQL for SQLite and PostgreSQL as 0001 (TEXT and BIGINT only, times in Unix ms). Never
-- edit it once released: add a new numbered file.

-- The catalogue, managed by the app's server or an operator. `amount` is the unit price; 0
-- means the sender chooses it (a custom-amount gift, within cloud.gift_max_custom_amount).
CREATE TABLE gift_config (
    gift_id        BIGINT PRIMARY KEY,
    gift_type      BIGINT NOT NULL DEFAULT 0,
    name           TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount >= 0),
    img            TEXT NOT NULL DEFAULT '',
    animation_type BIGINT NOT NULL DEFAULT 0,
    animation_img  TEXT NOT NULL DEFAULT '',
    sort_order     BIGINT NOT NULL DEFAULT 0,
    extends        TEXT NOT NULL DEFAULT '{}',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE INDEX gift_config_by_type ON gift_config (gift_type, sort_order, gift_id);

-- One row per gift sent, written `pending` before the payment service is asked, so a crash
-- between the two leaves a row the reconciler finds. The price is copied from the catalogue at
-- that moment (`amount` is the quantity). A client's retry of one send carries the same
-- client_biz_id: the UNIQUE key makes it find this row instead of paying a second time.
-- `status` leaves pending/unknown for paid or failed once and never changes again;
-- `next_attempt_at` is when the reconciler may ask the payment service (again): the end of the
-- wait for a call under way, or of the back-off after an inconclusive one.
CREATE TABLE gift_ledger (
    biz_id          TEXT PRIMARY KEY,
    client_biz_id   TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (user_id),
    live_id         TEXT NOT NULL REFERENCES rooms (live_id),
    anchor_id       TEXT NOT NULL,
    gift_id         BIGINT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    unit_price      BIGINT NOT NULL CHECK (unit_price >= 0),
    total           BIGINT NOT NULL CHECK (total >= 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'unknown')),
    biz_code        BIGINT,
    biz_message     TEXT,
    last_error      TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    settled_at      BIGINT,
    UNIQUE (user_id, client_biz_id)
);

CREATE INDEX gift_ledger_by_room ON gift_ledger (live_id, created_at);
CREATE INDEX gift_ledger_by_anchor ON gift_ledger (anchor_id, created_at);
CREATE INDEX gift_ledger_by_user ON gift_ledger (user_id, created_at);
CREATE INDEX gift_ledger_unsettled ON gift_ledger (next_attempt_at)
    WHERE status IN ('pending', 'unknown');
