// Integrity errors by the constraint that raised them. Mapping by name, not by SQLSTATE alone,
// keeps a new CHECK on the same table from being reported as an old, unrelated error.

/** The name of the constraint a statement violated (SQLSTATE class 23), or null. */
export function violatedConstraint(error: unknown): string | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return typeof code === 'string' && code.startsWith('23') && typeof constraint === 'string' ? constraint : null;
}

/** Rethrows `error` as the domain error its constraint maps to, or as it is. */
export function mapConstraints(map: Record<string, () => Error>): (error: unknown) => never {
  return (error) => {
    const name = violatedConstraint(error);
    const mapped = name === null ? undefined : map[name];
    throw mapped ? mapped() : error;
  };
}
