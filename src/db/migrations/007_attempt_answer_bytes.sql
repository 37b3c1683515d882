-- A receiver's answer is whatever bytes it sent: a NUL or invalid UTF-8 does not fit text (the
-- attempt's insert failed, the outcome was never written and the delivery was sent again every
-- lease, forever). bytea keeps any bytes; the rows already kept were valid text, and are kept as
-- their UTF-8 bytes.
ALTER TABLE delivery_attempts
  ALTER COLUMN response_body TYPE bytea USING convert_to(response_body, 'UTF8');
