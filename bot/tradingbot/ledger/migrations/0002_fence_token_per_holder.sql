-- A fencing token per holder, keyed by the TradingBot's UID (docs/ARCHITECTURE.md, "The fence").
--
-- Version 1 fenced per color: one row per namespace/name holding an epoch, and a second process at
-- the same epoch passed it too. Now each process that becomes active draws a token from one sequence
-- (strictly greater than every token drawn before, for any bot) and stores it with its identity; an
-- order write must present exactly the token the row holds.
--
-- The version-1 rows of table "fence" stay for audit. A bot's first acquisition under this schema
-- retires its version-1 row (epoch set to the bigint maximum), which fences out any process still
-- running the old code, since that code only ever compares epochs.

CREATE SEQUENCE fence_token_seq AS bigint START WITH 1;

CREATE TABLE fence_token (
    bot_uid     text        PRIMARY KEY,           -- metadata.uid of the TradingBot (standalone: bot id)
    namespace   text        NOT NULL,              -- for people; a recreated TradingBot gets a new row
    name        text        NOT NULL,
    incarnation timestamptz,                       -- metadata.creationTimestamp of the TradingBot
    epoch       bigint      NOT NULL CHECK (epoch >= 1),
    token       bigint      NOT NULL CHECK (token >= 1),
    holder      text        NOT NULL,              -- pod name/uid, pid and process start of the holder
    acquired_at timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,                       -- a newer TradingBot of the same name took over
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX fence_token_by_name ON fence_token (namespace, name);

-- Every token ever handed out, and to whom: the audit trail of who could trade when (the fence row
-- itself only holds the current holder).
CREATE TABLE fence_holders (
    token       bigint      PRIMARY KEY,
    bot_uid     text        NOT NULL,
    namespace   text        NOT NULL,
    name        text        NOT NULL,
    epoch       bigint      NOT NULL,
    holder      text        NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
);

-- Which token wrote each order and fill, and the wall-clock instant after which the venue refuses
-- the order (set before the order is sent; NULL for orders written by version 1).
ALTER TABLE orders ADD COLUMN token bigint, ADD COLUMN expires_at timestamptz;
ALTER TABLE fills ADD COLUMN token bigint;
