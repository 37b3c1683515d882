-- create-invoice's pending count filtered on status and expires_at, which invoices_pending_expiry
-- also covers: with many pending invoices the planner could walk that index (every pending
-- invoice of every customer) instead of the customer's own rows, making each create cost
-- O(pending invoices). Both customer limits now come from one scan of the customer's last day.

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
    RETURN QUERY SELECT 'rate'::text, NULL::uuid,
      greatest(1, ceil(extract(epoch FROM v_oldest_recent + interval '60 seconds' - p_created_at)))::integer;
    RETURN;
  END IF;

  IF v_pending >= p_max_pending THEN
    RETURN QUERY SELECT 'pending'::text, NULL::uuid,
      greatest(1, ceil(extract(epoch FROM v_first_expiry - p_created_at)))::integer;
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
    RETURN QUERY SELECT 'created'::text, p_id, NULL::integer;
    RETURN;
  END IF;

  SELECT i.id INTO v_existing FROM invoices i
   WHERE i.merchant_id = p_merchant_id AND i.external_id = p_external_id;
  RETURN QUERY SELECT 'duplicate'::text, v_existing, NULL::integer;
END
$$;
