-- The lifecycle's transition table in the database, a snapshot of the requisite on each deal,
-- the id of the transition that last changed a row, and the payment page's token key.

-- 1. Transitions. src/lifecycle.ts is the one home of the table; this is its copy, kept equal by
-- a test, so that no statement, whoever writes it, can move a status along an edge the
-- lifecycle does not have.
CREATE TABLE lifecycle_transitions (
  entity      text NOT NULL CHECK (entity IN ('invoice', 'deal')),
  from_status text NOT NULL,
  to_status   text NOT NULL,
  PRIMARY KEY (entity, from_status, to_status)
);
INSERT INTO lifecycle_transitions (entity, from_status, to_status) VALUES
  ('invoice', 'pending', 'success'), ('invoice', 'pending', 'expired'), ('invoice', 'pending', 'cancelled'),
  ('deal', 'awaiting_payment', 'customer_paid'), ('deal', 'awaiting_payment', 'completed'),
  ('deal', 'awaiting_payment', 'expired'), ('deal', 'awaiting_payment', 'cancelled'),
  ('deal', 'customer_paid', 'completed'), ('deal', 'customer_paid', 'expired');

CREATE FUNCTION kasa_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM lifecycle_transitions
                  WHERE entity = TG_ARGV[0] AND from_status = OLD.status AND to_status = NEW.status) THEN
    RAISE EXCEPTION 'lifecycle invariant: % % → % is not allowed', TG_ARGV[0], OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'lifecycle_transition';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER invoices_transition BEFORE UPDATE OF status ON invoices
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION kasa_check_transition('invoice');
CREATE TRIGGER deals_transition BEFORE UPDATE OF status ON deals
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION kasa_check_transition('deal');

-- 2. An open deal keeps the card it was opened with: a trader editing the requisite later
-- changes neither what the customer was told to pay to nor the deal's record (the evidence a
-- dispute needs).
ALTER TABLE deals ADD COLUMN bank_name text, ADD COLUMN card_number text, ADD COLUMN holder_name text;
UPDATE deals d SET bank_name = r.bank_name, card_number = r.card_number, holder_name = r.holder_name
  FROM requisites r WHERE r.id = d.requisite_id;
ALTER TABLE deals ALTER COLUMN bank_name SET NOT NULL, ALTER COLUMN card_number SET NOT NULL,
  ALTER COLUMN holder_name SET NOT NULL;

-- 3. A transition retried after its commit was lost (the connection dropped after COMMIT) finds
-- its own id here and answers as its first attempt did, instead of "no longer active".
ALTER TABLE invoices ADD COLUMN transition_id uuid;
ALTER TABLE deals ADD COLUMN transition_id uuid;

-- 4. The key that binds the payment page's form token to its invoice; one per installation, so
-- every instance accepts the forms every other instance served.
ALTER TABLE settings ADD COLUMN page_token_key text NOT NULL
  DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
