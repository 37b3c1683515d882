-- Webhook delivery: one delivery per event with a target, its attempts, and the merchant's
-- signing keys (a rotated-out secret keeps signing for 24 h; an optional Ed25519 key pair).

ALTER TABLE merchants
  ADD COLUMN previous_webhook_secret         text,
  ADD COLUMN previous_webhook_secret_expires timestamptz,
  ADD COLUMN webhook_ed25519_private         text,
  ADD COLUMN webhook_ed25519_public          text;

-- Events need not belong to an invoice (the `ping` of a test delivery does not).
ALTER TABLE events DROP CONSTRAINT events_one_per_transition;
CREATE UNIQUE INDEX events_one_per_transition ON events (invoice_id, type) WHERE invoice_id IS NOT NULL;

CREATE TABLE deliveries (
  event_id        uuid PRIMARY KEY REFERENCES events (id),
  merchant_id     uuid NOT NULL REFERENCES merchants (id),
  invoice_id      uuid REFERENCES invoices (id),
  target_url      text NOT NULL,
  -- Host of target_url: the worker caps in-flight deliveries per target with it.
  target_host     text NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  failure_reason  text,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- A claimed delivery is leased to one worker until lease_until; a crashed worker's lease lapses.
  lease_token     uuid,
  lease_until     timestamptz,
  last_status     integer,
  last_error      text,
  created_at      timestamptz NOT NULL,
  delivered_at    timestamptz,
  updated_at      timestamptz NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_merchant ON deliveries (merchant_id, created_at DESC);
CREATE INDEX deliveries_invoice ON deliveries (invoice_id);

CREATE TABLE delivery_attempts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id      uuid NOT NULL REFERENCES deliveries (event_id),
  merchant_id   uuid NOT NULL REFERENCES merchants (id),
  attempted_at  timestamptz NOT NULL,
  status_code   integer,
  duration_ms   integer NOT NULL,
  response_body text,
  error         text
);
CREATE INDEX delivery_attempts_event ON delivery_attempts (event_id, attempted_at);
