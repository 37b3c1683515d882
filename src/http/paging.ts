// The query of every list: a bounded page size and the cursor of the previous page.
import { integer, optional, string } from './validation.ts';

export const LIST_LIMIT_MAX = 100;
/** Most lists are short registers (merchants, traders, cards): one page holds a small install's. */
export const LIST_LIMIT_DEFAULT = 100;

export const pageFields = {
  limit: optional(integer({ min: 1, max: LIST_LIMIT_MAX, description: `Page size (default ${LIST_LIMIT_DEFAULT}, at most ${LIST_LIMIT_MAX})` })),
  cursor: optional(string({ min: 1, max: 200, description: 'next_cursor of the previous page' })),
};

/** The page a list's query asks for. */
export function pageRequest(query: { limit?: number | undefined; cursor?: string | undefined }, limitDefault = LIST_LIMIT_DEFAULT) {
  return { limit: query.limit ?? limitDefault, cursor: query.cursor };
}
