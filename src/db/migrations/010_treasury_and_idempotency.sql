-- What money leaving and entering Kasa by chain, and answers kept for retried requests, share.

-- A chain transaction id is used once in all of Kasa: a top-up credited with a hash, or a
-- withdrawal completed with it, claims the hash here, so no transfer can be counted twice,
-- whatever table records it. Hashes are stored in lower case (TRON ids are 64 hex digits).
CREATE TABLE chain_transactions (
  tx_hash    text PRIMARY KEY CHECK (tx_hash ~ '^[0-9a-f]{64}$'),
  network    text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('merchant_withdrawal', 'trader_withdrawal', 'trader_topup')),
  ref        uuid NOT NULL,
  created_at timestamptz NOT NULL
);

-- Idempotency keys of the merchant and trader APIs: the first final answer to a (key owner,
-- key), kept 24 h. A row is written in the transaction of the request's effect, so the effect
-- and its kept answer commit together. A request whose effect is outside the database (a test
-- ping) reserves its row first: status_code stays NULL while it runs, until locked_until.
CREATE TABLE idempotency_keys (
  owner_id     uuid NOT NULL,
  key          text NOT NULL,
  fingerprint  bytea NOT NULL,
  status_code  integer,
  headers      jsonb NOT NULL DEFAULT '{}',
  body         text,
  locked_until timestamptz,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (owner_id, key),
  CHECK ((status_code IS NULL) = (body IS NULL)),
  CHECK (status_code IS NOT NULL OR locked_until IS NOT NULL)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
