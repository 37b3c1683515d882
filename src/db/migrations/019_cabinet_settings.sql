-- The operator's numbers of a day read the invoices created since midnight, across merchants.
-- No index served created_at alone, so each read walked every invoice ever made. A BRIN index:
-- invoices are appended in created_at order (Kasa's clock writes it at insert), so one summary
-- per range of pages finds a day's rows, and it costs an insert almost nothing, unlike a
-- B-tree on the create-invoice hot path. Pages not summarized yet (the newest ones, today's)
-- are always read, which is exactly where today's rows are.
CREATE INDEX invoices_created_brin ON invoices USING brin (created_at);

-- Why the operator cancelled a deal (and with it its invoice), as typed in the console; shown to
-- the deal's trader and kept beside the audit log's record of who did it.
ALTER TABLE deals ADD COLUMN cancel_reason text CHECK (length(cancel_reason) <= 500);
