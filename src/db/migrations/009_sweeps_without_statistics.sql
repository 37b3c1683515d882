-- The expiry sweep and the webhook claim keep their indexes on a database that has never been
-- analyzed, as create-invoice does since 006_plans_without_statistics.sql.
--
-- Both ask for the head of a partial index in its order (the oldest due invoices on
-- invoices_pending_expiry, the oldest due deliveries on deliveries_due). Without statistics the
-- planner guesses a third of the rows match and prefers reading the whole table and sorting it:
-- at 10,000 due deliveries a claim sorted them all (about 20 ms instead of 0.4) after every
-- finished send, and each expiry batch read every due invoice. Run as functions with sequential
-- scans and sorts disabled, every other plan carries a disabled node and loses, whatever the
-- statistics say; the window sort of the claim's ranking, which every plan needs, stays.
-- The predicates are src/lifecycle.ts's (dueForExpirySql) and the delivery worker's.
--
-- And jit = off, here and on kasa_create_invoice: a disabled node adds 10^10 to a plan's cost,
-- far above jit_above_cost, so a plan that keeps one (the claim's window sort) was compiled by
-- JIT on every call: 300 ms per claim instead of 1.

-- The oldest pending invoices past expires_at, locked for the caller's transaction; rows
-- another sweeper holds are skipped, so any number of instances sweep at once.
CREATE FUNCTION kasa_due_invoices(p_now timestamptz, p_limit integer) RETURNS TABLE (id uuid)
LANGUAGE sql
SET enable_seqscan = off
SET enable_sort = off
SET jit = off
AS $$
  SELECT i.id FROM invoices i
   WHERE i.status = 'pending' AND i.expires_at <= p_now
   ORDER BY i.expires_at
   LIMIT p_limit
   FOR UPDATE SKIP LOCKED
$$;

-- Claims up to p_limit due deliveries with a lease, at most p_per_target per target host less
-- what the worker already has in flight there (p_busy_hosts / p_busy_n); returns their ids.
CREATE FUNCTION kasa_claim_deliveries(
  p_now timestamptz, p_token uuid, p_lease_until timestamptz,
  p_busy_hosts text[], p_busy_n integer[], p_saturated_hosts text[],
  p_per_target integer, p_limit integer, p_scan_max integer
) RETURNS TABLE (event_id uuid)
LANGUAGE sql
SET enable_seqscan = off
SET enable_sort = off
SET jit = off
AS $$
  WITH busy AS (
    SELECT * FROM unnest(p_busy_hosts, p_busy_n) AS b (host, n)
  ), due AS (
    SELECT d.event_id, d.target_host, d.next_attempt_at
      FROM deliveries d
     WHERE d.status = 'pending' AND d.next_attempt_at <= p_now
       AND (d.lease_until IS NULL OR d.lease_until <= p_now)
       AND d.target_host <> ALL (p_saturated_hosts)
     ORDER BY d.next_attempt_at
     LIMIT p_scan_max
  ), ranked AS (
    SELECT due.event_id, due.target_host, due.next_attempt_at,
           row_number() OVER (PARTITION BY due.target_host ORDER BY due.next_attempt_at) AS n
      FROM due
  ), claimable AS (
    SELECT d.event_id FROM deliveries d
     WHERE d.event_id IN (SELECT r.event_id FROM ranked r LEFT JOIN busy b ON b.host = r.target_host
                           WHERE r.n <= p_per_target - coalesce(b.n, 0) ORDER BY r.next_attempt_at LIMIT p_limit)
       AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= p_now)
     FOR UPDATE SKIP LOCKED
  )
  UPDATE deliveries d
     SET lease_token = p_token, lease_until = p_lease_until, attempts = d.attempts + 1, updated_at = p_now
    FROM claimable c
   WHERE d.event_id = c.event_id
  RETURNING d.event_id
$$;

ALTER FUNCTION kasa_create_invoice(uuid, uuid, text, text, numeric, text, numeric, numeric, bigint, bigint, text, text, text, text,
                                   timestamptz, timestamptz, integer, integer) SET jit = off;
