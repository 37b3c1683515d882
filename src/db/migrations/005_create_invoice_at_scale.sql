-- create-invoice at scale: one scan of the customer's own rows, no shared row lock per insert,
-- one index fewer.
--
-- 1. The pending count filtered on status and expires_at, which invoices_pending_expiry also
--    covers. Once the statistics said few invoices were pending, PostgreSQL walked that index
--    instead: every pending invoice of every customer, on each create (207 ms per create with
--    115,000 pending). Both customer limits now come from one scan of the customer's last day.
--
-- 2. The foreign keys from invoices to merchants and currencies took FOR KEY SHARE on the
--    merchant's and the currency's row on every insert: a busy merchant's concurrent creates all
--    lock the same two rows, which PostgreSQL records as ever-growing multixacts. What the keys
--    guaranteed is kept: kasa_create_invoice checks that both exist, and merchants and currencies
--    can no longer be deleted or re-keyed (a merchant is disabled, a currency switched off),
--    so a checked row cannot vanish before the insert commits. Measured in alternating runs on a
--    2-core machine: the database's CPU per create down by ~15 %.
--
-- 3. seq had a unique index of its own besides invoices_merchant_seq. seq is an identity column
--    (GENERATED ALWAYS); the merchant-scoped index, which cursor pagination reads, now carries
--    the uniqueness, and every insert updates one index fewer.

ALTER TABLE invoices
  DROP CONSTRAINT invoices_merchant_id_fkey,
  DROP CONSTRAINT invoices_currency_fkey,
  DROP CONSTRAINT invoices_seq_key;

DROP INDEX invoices_merchant_seq;
CREATE UNIQUE INDEX invoices_merchant_seq ON invoices (merchant_id, seq DESC);

CREATE FUNCTION kasa_refuse_removal() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are never removed or renamed: invoices refer to them (deactivate or disable instead)', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER merchants_kept BEFORE DELETE OR TRUNCATE ON merchants
  FOR EACH STATEMENT EXECUTE FUNCTION kasa_refuse_removal();
CREATE TRIGGER merchants_id_kept BEFORE UPDATE OF id ON merchants
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION kasa_refuse_removal();
CREATE TRIGGER currencies_kept BEFORE DELETE OR TRUNCATE ON currencies
  FOR EACH STATEMENT EXECUTE FUNCTION kasa_refuse_removal();
CREATE TRIGGER currencies_code_kept BEFORE UPDATE OF code ON currencies
  FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code) EXECUTE FUNCTION kasa_refuse_removal();

CREATE OR REPLACE FUNCTION kasa_create_invoice(
  p_id uuid, p_merchant_id uuid, p_external_id text, p_customer_id text,
  p_amount numeric, p_currency text, p_rate numeric, p_fee_percent numeric,
  p_gross_usdt bigint, p_merchant_usdt bigint,
  p_purpose text, p_callback_url text, p_success_url text, p_fail_url text,
  p_created_at timestamptz, p_expires_at timestamptz,
  p_per_minute integer, p_max_pending integer
) RETURNS TABLE (outcome text, invoice_id uuid, retry_after_seconds integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_recent integer;
  v_oldest_recent timestamptz;
  v_pending integer;
  v_first_expiry timestamptz;
  v_existing uuid;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_merchant_id::text || '/' || p_customer_id, 0));

  -- What the foreign keys checked, without their row lock (see the header).
  PERFORM 1 FROM merchants m, currencies c WHERE m.id = p_merchant_id AND c.code = p_currency;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'invoice for unknown merchant % or currency %', p_merchant_id, p_currency
      USING ERRCODE = 'foreign_key_violation';
  END IF;

  -- Both limits from one scan of the customer's last day on invoices_merchant_customer. The
  -- conditions name only that index's columns: a separate pending count (status, expires_at)
  -- let the planner walk invoices_pending_expiry instead, i.e. every pending invoice of every
  -- customer, on each create.
  SELECT count(*) FILTER (WHERE i.created_at > p_created_at - interval '60 seconds'),
         min(i.created_at) FILTER (WHERE i.created_at > p_created_at - interval '60 seconds'),
         count(*) FILTER (WHERE i.status = 'pending' AND i.expires_at > p_created_at),
         min(i.expires_at) FILTER (WHERE i.status = 'pending' AND i.expires_at > p_created_at)
    INTO v_recent, v_oldest_recent, v_pending, v_first_expiry
    FROM invoices i
   WHERE i.merchant_id = p_merchant_id AND i.customer_id = p_customer_id
     -- No invoice stays pending longer than the longest TTL (1440 minutes).
     AND i.created_at > p_created_at - interval '1440 minutes';
  IF v_recent >= p_per_minute THEN
    outcome := 'rate';
    retry_after_seconds := greatest(1, ceil(extract(epoch FROM v_oldest_recent + interval '60 seconds' - p_created_at)));
    RETURN NEXT;
    RETURN;
  END IF;

  IF v_pending >= p_max_pending THEN
    outcome := 'pending';
    retry_after_seconds := greatest(1, ceil(extract(epoch FROM v_first_expiry - p_created_at)));
    RETURN NEXT;
    RETURN;
  END IF;

  INSERT INTO invoices (id, merchant_id, external_id, customer_id, amount, currency, conversion_rate,
                        fee_percent, gross_usdt, merchant_usdt, purpose, callback_url, success_url,
                        fail_url, created_at, expires_at)
  VALUES (p_id, p_merchant_id, p_external_id, p_customer_id, p_amount, p_currency, p_rate,
          p_fee_percent, p_gross_usdt, p_merchant_usdt, p_purpose, p_callback_url, p_success_url,
          p_fail_url, p_created_at, p_expires_at)
  ON CONFLICT ON CONSTRAINT invoices_external_id_unique DO NOTHING;
  IF FOUND THEN
    outcome := 'created';
    invoice_id := p_id;
    RETURN NEXT;
    RETURN;
  END IF;

  SELECT i.id INTO v_existing FROM invoices i
   WHERE i.merchant_id = p_merchant_id AND i.external_id = p_external_id;
  outcome := 'duplicate';
  invoice_id := v_existing;
  RETURN NEXT;
END
$$;
