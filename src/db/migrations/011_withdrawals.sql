-- Money out: withdrawals of merchants and traders to a TRC20 address, the settings that bound
-- them, API key scopes (a key must be granted `withdrawals` to move money out), and webhook
-- events about a withdrawal.

-- Every key issued so far keeps what it could do: the invoices scope.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{invoices}'
  CONSTRAINT api_keys_scopes_known CHECK (cardinality(scopes) >= 1 AND scopes <@ '{invoices,withdrawals}'::text[]);

-- In USDT with the 2 decimals an address receives. The minimum stays above the fee, so every
-- withdrawal pays out something.
ALTER TABLE settings
  ADD COLUMN withdrawal_min_usdt                numeric(14, 2) NOT NULL DEFAULT 10.00,
  ADD COLUMN withdrawal_fee_usdt                numeric(14, 2) NOT NULL DEFAULT 2.00 CHECK (withdrawal_fee_usdt >= 0),
  ADD COLUMN withdrawal_auto_approve_below_usdt numeric(14, 2) NOT NULL DEFAULT 0 CHECK (withdrawal_auto_approve_below_usdt >= 0),
  ADD CONSTRAINT settings_withdrawal_min_above_fee CHECK (withdrawal_min_usdt > withdrawal_fee_usdt);

-- One row per withdrawal, of a merchant or of a trader (exactly one of the two ids). Amounts in
-- micro-USDT; the fee is the one in force at the request, so the answer at creation stays true.
CREATE TABLE withdrawals (
  id           uuid PRIMARY KEY,
  merchant_id  uuid REFERENCES merchants (id),
  trader_id    uuid REFERENCES traders (id),
  status       text NOT NULL CHECK (status IN ('requested', 'approved', 'completed', 'rejected', 'cancelled')),
  amount_usdt  bigint NOT NULL CHECK (amount_usdt > 0),
  fee_usdt     bigint NOT NULL CHECK (fee_usdt >= 0 AND fee_usdt < amount_usdt),
  address      text NOT NULL CHECK (address ~ '^T[1-9A-HJ-NP-Za-km-z]{33}$'),
  network      text NOT NULL CHECK (network = 'TRC20'),
  tx_hash      text UNIQUE CHECK (tx_hash ~ '^[0-9a-f]{64}$'),
  reason       text CHECK (length(reason) BETWEEN 1 AND 500),
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  CHECK (num_nonnulls(merchant_id, trader_id) = 1),
  CHECK ((status = 'completed') = (tx_hash IS NOT NULL)),
  CHECK ((status = 'rejected') = (reason IS NOT NULL))
);
-- Lists, newest first: an owner's own, and the operator's by status.
CREATE INDEX withdrawals_merchant ON withdrawals (merchant_id, created_at DESC, id DESC) WHERE merchant_id IS NOT NULL;
CREATE INDEX withdrawals_trader ON withdrawals (trader_id, created_at DESC, id DESC) WHERE trader_id IS NOT NULL;
CREATE INDEX withdrawals_status ON withdrawals (status, created_at DESC, id DESC);

-- An event (and its delivery) is about an invoice, a withdrawal, or neither (a ping); one event
-- per withdrawal transition, as per invoice transition.
ALTER TABLE events ADD COLUMN withdrawal_id uuid REFERENCES withdrawals (id);
ALTER TABLE events ADD CONSTRAINT events_one_subject CHECK (num_nonnulls(invoice_id, withdrawal_id) <= 1);
CREATE UNIQUE INDEX events_one_per_withdrawal_transition ON events (withdrawal_id, type) WHERE withdrawal_id IS NOT NULL;
ALTER TABLE deliveries ADD COLUMN withdrawal_id uuid REFERENCES withdrawals (id);
CREATE INDEX deliveries_withdrawal ON deliveries (withdrawal_id) WHERE withdrawal_id IS NOT NULL;
