-- Traders' top-ups, the minimum insurance a trader keeps to get deals, and statements read
-- straight from the ledger.

-- A top-up: the trader says "I sent amount_usdt to Kasa in tx_hash"; an operator checks the
-- chain and confirms it (world → trader:available) or rejects it. The hash is claimed in
-- chain_transactions at submission, in the same transaction, and stays claimed whatever the
-- outcome: a rejected claim of a real transfer must not let anyone claim it again.
CREATE TABLE trader_topups (
  id          uuid PRIMARY KEY,
  trader_id   uuid NOT NULL REFERENCES traders (id),
  amount_usdt bigint NOT NULL CHECK (amount_usdt > 0),
  network     text NOT NULL CHECK (network IN ('TRC20')),
  tx_hash     text NOT NULL CHECK (tx_hash ~ '^[0-9a-f]{64}$'),
  status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'rejected')),
  reason      text,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  CONSTRAINT trader_topups_tx_hash_unique UNIQUE (tx_hash),
  CHECK ((status = 'rejected') = (reason IS NOT NULL))
);
-- Lists, newest first: a trader's own, the operator's by status, the operator's all.
CREATE INDEX trader_topups_trader ON trader_topups (trader_id, created_at DESC, id DESC);
CREATE INDEX trader_topups_status ON trader_topups (status, created_at DESC, id DESC);
CREATE INDEX trader_topups_created ON trader_topups (created_at DESC, id DESC);

-- A trader whose trader:<id>:insurance is below this gets no new deals (0: no minimum).
ALTER TABLE settings ADD COLUMN trader_min_insurance_usdt bigint NOT NULL DEFAULT 0 CHECK (trader_min_insurance_usdt >= 0);

-- Each transfer records the balance each of its two accounts had right after it, so a
-- statement's balance_after is read, never summed, and stays exact however long the history.
-- Balances start at 0 and change only through transfers, so the running sum of an account's
-- legs in transfer order is its balance after each one.
ALTER TABLE transfers ADD COLUMN from_balance_after bigint, ADD COLUMN to_balance_after bigint;
WITH legs AS (
  SELECT id, from_account AS account, -amount AS delta, true AS outgoing FROM transfers
  UNION ALL
  SELECT id, to_account, amount, false FROM transfers
), running AS (
  SELECT id, outgoing, sum(delta) OVER (PARTITION BY account ORDER BY id) AS after FROM legs
)
UPDATE transfers t
   SET from_balance_after = f.after, to_balance_after = o.after
  FROM running f, running o
 WHERE f.id = t.id AND f.outgoing AND o.id = t.id AND NOT o.outgoing;
ALTER TABLE transfers ALTER COLUMN from_balance_after SET NOT NULL, ALTER COLUMN to_balance_after SET NOT NULL;

-- A statement page is a range of one of these: an account's legs by transfer id.
DROP INDEX transfers_from;
DROP INDEX transfers_to;
CREATE INDEX transfers_from_account ON transfers (from_account, id);
CREATE INDEX transfers_to_account ON transfers (to_account, id);
