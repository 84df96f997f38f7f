-- Fence, orders and fills (DESIGN §4). Amounts are NUMERIC: prices and sizes are exact decimals.

CREATE TABLE fence (
    bot_id     text        PRIMARY KEY,
    epoch      bigint      NOT NULL CHECK (epoch >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    client_order_id text        PRIMARY KEY,
    bot_id          text        NOT NULL,
    epoch           bigint      NOT NULL,
    market          text        NOT NULL,
    token_id        text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price           numeric     NOT NULL CHECK (price >= 0 AND price <= 1),
    size            numeric     NOT NULL CHECK (size > 0),
    tif             text        NOT NULL CHECK (tif IN ('GTC', 'FOK')),
    status          text        NOT NULL CHECK (status IN
                        ('PENDING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'FAILED')),
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Reconciliation looks for the orders that are not final yet.
CREATE INDEX orders_unsettled ON orders (bot_id, created_at)
    WHERE status IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED');

CREATE TABLE fills (
    client_order_id text        NOT NULL REFERENCES orders (client_order_id),
    seq             integer     NOT NULL CHECK (seq >= 0),
    bot_id          text        NOT NULL,
    epoch           bigint      NOT NULL,
    token_id        text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('BUY', 'SELL')),
    price           numeric     NOT NULL CHECK (price >= 0 AND price <= 1),
    size            numeric     NOT NULL CHECK (size > 0),
    fee_usd         numeric     NOT NULL CHECK (fee_usd >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The exchange reports every fill so far; its index in that list makes re-recording idempotent.
    PRIMARY KEY (client_order_id, seq)
);

CREATE INDEX fills_by_bot ON fills (bot_id, created_at);
