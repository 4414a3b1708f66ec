-- The parent table of the documents of every bot (ragops.stack).
--
-- One LIST partition per bot, named documents_<32 hex of the bot UUID>, created
-- and attached by the ragops.stack.postgres_partition module; the API never
-- creates partitions. A row whose bot has no partition is rejected by the
-- server (there is deliberately no DEFAULT partition: it would be scanned by
-- every ATTACH PARTITION). Safe to run again: it changes nothing when the
-- table exists.
CREATE TABLE IF NOT EXISTS documents (
    bot_id     uuid        NOT NULL,
    id         text        NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
    text       text        NOT NULL DEFAULT '',
    metadata   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, id)
) PARTITION BY LIST (bot_id);
