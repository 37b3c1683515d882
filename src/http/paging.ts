// The query of every list: a bounded page size and the cursor of the previous page.
import { integer, optional, string } from './validation.ts';

export const LIST_LIMIT_MAX = 100;
export const LIST_LIMIT_DEFAULT = 20;

export const pageFields = {
  limit: optional(integer({ min: 1, max: LIST_LIMIT_MAX, description: `Page size (default ${LIST_LIMIT_DEFAULT}, at most ${LIST_LIMIT_MAX})` })),
  cursor: optional(string({ min: 1, max: 200, description: 'next_cursor of the previous page' })),
};
