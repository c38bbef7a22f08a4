-- The webhook outbox: each event's room in a column of its own, and dead letters.
--
-- Same SQL for SQLite and PostgreSQL as 0001. Never edit it once released: add a new numbered
-- file.
--
-- `live_id`: the room an event is about (its body's "live_id" when that is a string), written
-- with the event, so delivery finds a room's older undelivered events through an index instead
-- of matching every undelivered body. Rows written before this migration keep NULL (the two
-- databases share no expression that reads JSON text): they are delivered as events without a
-- room, outside their room's order, which matters only for events still undelivered at the
-- upgrade.
--
-- `dead_at`: an event still undelivered `callback_dead_after_s` after it was written (or last
-- retried) is dead: no longer attempted, and no longer holding its room's later events back.
-- `retried_at`: when an operator sent a dead event back to the queue; its age counts from then.
ALTER TABLE webhook_outbox ADD COLUMN live_id TEXT;
ALTER TABLE webhook_outbox ADD COLUMN dead_at BIGINT;
ALTER TABLE webhook_outbox ADD COLUMN retried_at BIGINT;

CREATE INDEX webhook_outbox_room ON webhook_outbox (live_id, created_at, id)
    WHERE delivered_at IS NULL;
CREATE INDEX webhook_outbox_dead ON webhook_outbox (dead_at, id) WHERE dead_at IS NOT NULL;
