// Identifiers as Kasa issues them. An id from a path, a query or a body is checked here before
// it reaches SQL: a malformed one is simply not found, never a database error.

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_TEXT.test(value);
}
