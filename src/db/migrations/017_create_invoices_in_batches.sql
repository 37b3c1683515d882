-- create-invoice in batches: concurrent requests that queued while an earlier batch ran are sent
-- as one statement, so N invoices share one transaction, one commit (one WAL flush) and one round
-- trip. Each element is exactly one kasa_create_invoice call, so every check (the customer's
-- limits, the duplicate external_id) is the one a lone request gets.
--
-- Lock order: the elements run ordered by their customer lock's key, then by their place in the
-- batch, so two batches take the per-customer advisory locks in the same order and never wait on
-- each other in a cycle; two requests of one customer in one batch run in the order they came,
-- the second seeing the first's invoice.
--
-- A batch is retried whole when its connection was lost, and it may have committed. Its re-run
-- answers for each element as the first run did: an invoice already stored under the element's
-- id is reported as created (the duplicate check finds it by external_id; a limit it now fills
-- is its own).
CREATE FUNCTION kasa_create_invoices(
  p_id uuid[], p_merchant_id uuid[], p_external_id text[], p_customer_id text[],
  p_amount numeric[], p_currency text[], p_rate numeric[], p_fee_percent numeric[],
  p_gross_usdt bigint[], p_merchant_usdt bigint[],
  p_purpose text[], p_callback_url text[], p_success_url text[], p_fail_url text[],
  p_created_at timestamptz[], p_expires_at timestamptz[],
  p_per_minute integer[], p_max_pending integer[],
  p_rate_source text[], p_raw_rate numeric[], p_markup_percent numeric[], p_rate_fetched_at timestamptz[]
) RETURNS TABLE (ordinal integer, outcome text, invoice_id uuid, retry_after_seconds integer)
LANGUAGE plpgsql
SET jit = off
AS $$
DECLARE
  v_i integer;
  v_result record;
BEGIN
  -- The application sends at most 256 per batch (BATCH_SIZE_MAX in src/db/group-commit.ts).
  IF coalesce(cardinality(p_id), 0) > 1024 THEN
    RAISE EXCEPTION 'kasa_create_invoices: % elements, at most 1024', cardinality(p_id) USING ERRCODE = 'program_limit_exceeded';
  END IF;
  FOR v_i IN
    SELECT k.i FROM generate_subscripts(p_id, 1) AS k (i)
     ORDER BY hashtextextended(p_merchant_id[k.i]::text || '/' || p_customer_id[k.i], 0), k.i
  LOOP
    SELECT c.outcome, c.invoice_id, c.retry_after_seconds INTO v_result
      FROM kasa_create_invoice(
        p_id[v_i], p_merchant_id[v_i], p_external_id[v_i], p_customer_id[v_i],
        p_amount[v_i], p_currency[v_i], p_rate[v_i], p_fee_percent[v_i],
        p_gross_usdt[v_i], p_merchant_usdt[v_i],
        p_purpose[v_i], p_callback_url[v_i], p_success_url[v_i], p_fail_url[v_i],
        p_created_at[v_i], p_expires_at[v_i], p_per_minute[v_i], p_max_pending[v_i],
        p_rate_source[v_i], p_raw_rate[v_i], p_markup_percent[v_i], p_rate_fetched_at[v_i]) AS c;
    ordinal := v_i;
    outcome := v_result.outcome;
    invoice_id := v_result.invoice_id;
    retry_after_seconds := v_result.retry_after_seconds;
    -- Only a refusal pays this primary-key read: a re-run batch whose first run committed finds
    -- the element's own invoice counted against its customer.
    IF outcome IN ('rate', 'pending', 'unpaid') AND EXISTS (SELECT 1 FROM invoices i WHERE i.id = p_id[v_i]) THEN
      outcome := 'created';
      invoice_id := p_id[v_i];
      retry_after_seconds := NULL;
    ELSIF outcome = 'duplicate' AND invoice_id = p_id[v_i] THEN
      outcome := 'created';
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
