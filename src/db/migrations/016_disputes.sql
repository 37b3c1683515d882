-- Receipts and disputes (issue #12 section 4): a customer's claim that they paid, the trader's
-- answer, the operator's decision; the files each side sends (kept in the database, never on
-- the web root), the messages, every step of each dispute, and the webhooks about it.

-- 1. One dispute per claim. At most one open dispute per invoice (disputes_one_open), so two
-- uploads, or an upload and the merchant's claim, racing on one invoice end in one dispute.
CREATE TABLE disputes (
  id             uuid PRIMARY KEY,
  invoice_id     uuid NOT NULL REFERENCES invoices (id),
  deal_id        uuid NOT NULL REFERENCES deals (id),
  merchant_id    uuid NOT NULL REFERENCES merchants (id),
  trader_id      uuid NOT NULL REFERENCES traders (id),
  status         text NOT NULL CHECK (status IN ('awaiting_trader', 'awaiting_operator', 'trader_accepted',
                                                 'resolved_merchant', 'resolved_trader', 'cancelled')),
  reason         text NOT NULL CHECK (reason IN ('not_credited', 'wrong_amount')),
  -- Who opened it: the customer's receipt, the merchant's API, or the trader's reject of a paid deal.
  opened_by      text NOT NULL CHECK (opened_by IN ('customer', 'merchant', 'trader')),
  claimed_amount numeric(18, 2) NOT NULL CHECK (claimed_amount > 0),
  comment        text CHECK (length(comment) <= 1000),
  -- What backs the claim: the deal's own lock (trader:<id>:locked) while the deal held it when the
  -- dispute opened, else trader:<id>:dispute_hold; and how much it holds (micro-USDT).
  held_account   text NOT NULL,
  held_usdt      bigint NOT NULL CHECK (held_usdt >= 0),
  -- The claim's trader cost at the invoice's locked rate: covered when held_usdt reaches it.
  claimed_cost   bigint NOT NULL CHECK (claimed_cost > 0),
  statement      text CHECK (length(statement) <= 2000),
  decided_amount numeric(18, 2) CHECK (decided_amount > 0),
  respond_by     timestamptz NOT NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  resolved_at    timestamptz,
  -- Bumped by every transition: the webhook event of each transition is keyed on it.
  version        integer NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX disputes_one_open ON disputes (invoice_id) WHERE status IN ('awaiting_trader', 'awaiting_operator');
CREATE INDEX disputes_merchant ON disputes (merchant_id, created_at DESC, id DESC);
CREATE INDEX disputes_trader ON disputes (trader_id, created_at DESC, id DESC);
CREATE INDEX disputes_created ON disputes (created_at DESC, id DESC);
CREATE INDEX disputes_invoice ON disputes (invoice_id);
-- The timer sweep reads the oldest respond_by among disputes still waiting for their trader.
CREATE INDEX disputes_respond_by ON disputes (respond_by) WHERE status = 'awaiting_trader';

-- 2. Receipts and statements' files: bytes in the database (bytea), the content type checked by
-- their magic bytes at the upload. dispute_id is set once the dispute exists (a receipt opens it).
CREATE TABLE dispute_files (
  id           uuid PRIMARY KEY,
  dispute_id   uuid NOT NULL REFERENCES disputes (id),
  invoice_id   uuid NOT NULL REFERENCES invoices (id),
  merchant_id  uuid NOT NULL REFERENCES merchants (id),
  uploaded_by  text NOT NULL CHECK (uploaded_by IN ('customer', 'merchant', 'trader', 'operator')),
  content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'application/pdf')),
  size_bytes   integer NOT NULL CHECK (size_bytes > 0 AND size_bytes <= 5242880),
  sha256       text NOT NULL,
  data         bytea NOT NULL,
  -- What the customer typed beside the receipt, if anything.
  card_last4   text CHECK (card_last4 ~ '^[0-9]{4}$'),
  payer_name   text CHECK (length(payer_name) <= 100),
  paid_amount  numeric(18, 2) CHECK (paid_amount > 0),
  created_at   timestamptz NOT NULL
);
CREATE INDEX dispute_files_dispute ON dispute_files (dispute_id, created_at);
-- The per-invoice upload limit counts an invoice's recent uploads here.
CREATE INDEX dispute_files_invoice ON dispute_files (invoice_id, created_at);

-- 3. What the parties write to each other under a dispute.
CREATE TABLE dispute_messages (
  id         uuid PRIMARY KEY,
  dispute_id uuid NOT NULL REFERENCES disputes (id),
  author     text NOT NULL CHECK (author IN ('merchant', 'trader', 'operator')),
  body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
  created_at timestamptz NOT NULL
);
CREATE INDEX dispute_messages_dispute ON dispute_messages (dispute_id, created_at);

-- 4. Every status change of a dispute once, written in the transaction of the change: its timeline.
CREATE TABLE dispute_transitions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dispute_id  uuid NOT NULL REFERENCES disputes (id),
  from_status text,
  to_status   text NOT NULL,
  actor       text NOT NULL CHECK (actor IN ('customer', 'merchant', 'trader', 'operator', 'system')),
  at          timestamptz NOT NULL
);
CREATE INDEX dispute_transitions_dispute ON dispute_transitions (dispute_id, id);

-- 5. Webhook events about a dispute: one per transition, so dispute.updated may come many times
-- for one dispute; the key is the dispute's version at the transition, not the event's type.
-- Their deliveries carry the dispute's invoice_id, so they go out in order with the invoice's.
ALTER TABLE events ADD COLUMN dispute_id uuid REFERENCES disputes (id);
ALTER TABLE events ADD COLUMN dispute_version integer;
ALTER TABLE events DROP CONSTRAINT events_one_subject;
ALTER TABLE events ADD CONSTRAINT events_one_subject CHECK (num_nonnulls(invoice_id, withdrawal_id, dispute_id) <= 1);
ALTER TABLE events ADD CONSTRAINT events_dispute_version CHECK ((dispute_id IS NULL) = (dispute_version IS NULL));
CREATE UNIQUE INDEX events_one_per_dispute_transition ON events (dispute_id, dispute_version) WHERE dispute_id IS NOT NULL;
