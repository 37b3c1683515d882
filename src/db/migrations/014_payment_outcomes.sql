-- When a payment goes wrong: the shape the wrong-amount, late-payment, reject and dispute paths
-- share. The invoice says what was paid and why it ended as it did, keeps a history of every
-- status change, and may leave a final state by the two documented ways (a late confirmation
-- and a resolved dispute); deals may be rejected by their trader or disputed; the settings that
-- bound each path.

-- 1. What was paid, and the detail behind the seed's four statuses (the statuses stay four).
ALTER TABLE invoices
  ADD COLUMN paid_amount   numeric(18, 2) CHECK (paid_amount > 0),
  ADD COLUMN status_detail text CHECK (status_detail IN ('recalculated', 'paid_late', 'dispute_resolved', 'customer_timeout',
                                                         'no_trader', 'merchant_cancelled', 'operator'));
UPDATE invoices SET paid_amount = amount WHERE status = 'success';
UPDATE invoices i SET status_detail = CASE WHEN EXISTS (SELECT 1 FROM deals d WHERE d.invoice_id = i.id)
                                           THEN 'customer_timeout' ELSE 'no_trader' END
 WHERE status = 'expired';
UPDATE invoices SET status_detail = 'merchant_cancelled' WHERE status = 'cancelled';

-- 2. Every status change of an invoice, once: written by the one function that moves invoices
-- (src/invoices/transitions.ts), in the transaction of the change. The creation is the
-- invoice's own created_at.
CREATE TABLE invoice_transitions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  invoice_id    uuid NOT NULL REFERENCES invoices (id),
  from_status   text NOT NULL,
  to_status     text NOT NULL,
  status_detail text,
  -- Who moved it: the trader, an operator, the merchant, the customer's page, or Kasa's workers.
  actor         text NOT NULL CHECK (actor IN ('trader', 'operator', 'merchant', 'customer', 'system')),
  at            timestamptz NOT NULL
);
CREATE INDEX invoice_transitions_invoice ON invoice_transitions (invoice_id, id);
-- Invoices moved before this migration get the one transition their row records.
INSERT INTO invoice_transitions (invoice_id, from_status, to_status, status_detail, actor, at)
SELECT id, 'pending', status, status_detail, CASE status WHEN 'success' THEN 'trader' WHEN 'cancelled' THEN 'merchant' ELSE 'system' END,
       coalesce(paid_at, cancelled_at, expired_at, created_at)
  FROM invoices WHERE status <> 'pending' ORDER BY seq;

-- 3. Deals a trader rejects, and deals under dispute. A rejected deal stays as the invoice's
-- history while the invoice gets a new deal on another requisite: one deal per invoice that is
-- not rejected.
ALTER TABLE deals DROP CONSTRAINT deals_one_per_invoice;
CREATE UNIQUE INDEX deals_one_per_invoice ON deals (invoice_id) WHERE status <> 'rejected';
CREATE INDEX deals_invoice ON deals (invoice_id);
ALTER TABLE deals DROP CONSTRAINT deals_status_check;
ALTER TABLE deals ADD CONSTRAINT deals_status_check
  CHECK (status IN ('awaiting_payment', 'customer_paid', 'completed', 'expired', 'cancelled', 'rejected', 'disputed'));

-- 4. The lifecycle's new edges (src/lifecycle.ts is their home; this is the copy the trigger reads).
INSERT INTO lifecycle_transitions (entity, from_status, to_status) VALUES
  ('invoice', 'expired', 'success'), ('invoice', 'cancelled', 'success'),
  ('deal', 'awaiting_payment', 'rejected'), ('deal', 'customer_paid', 'disputed'),
  ('deal', 'expired', 'completed'), ('deal', 'expired', 'disputed'),
  ('deal', 'disputed', 'completed'), ('deal', 'disputed', 'rejected'), ('deal', 'disputed', 'expired');

-- 5. The settings of each path (README, Settings).
ALTER TABLE settings
  ADD COLUMN amount_tolerance            numeric(18, 2) NOT NULL DEFAULT 0 CHECK (amount_tolerance >= 0),
  ADD COLUMN overpayment_max_percent     numeric(5, 2) NOT NULL DEFAULT 10 CHECK (overpayment_max_percent >= 0 AND overpayment_max_percent <= 100),
  ADD COLUMN late_confirm_minutes        integer NOT NULL DEFAULT 120 CHECK (late_confirm_minutes >= 0),
  ADD COLUMN late_unpaid_confirm_minutes integer NOT NULL DEFAULT 0 CHECK (late_unpaid_confirm_minutes >= 0),
  ADD COLUMN trader_unconfirmed_max      integer NOT NULL DEFAULT 10 CHECK (trader_unconfirmed_max >= 0),
  ADD COLUMN dispute_window_hours        integer NOT NULL DEFAULT 72 CHECK (dispute_window_hours >= 1),
  ADD COLUMN dispute_trader_hours        integer NOT NULL DEFAULT 24 CHECK (dispute_trader_hours >= 1),
  ADD COLUMN customer_unpaid_max         integer NOT NULL DEFAULT 3 CHECK (customer_unpaid_max >= 1);
