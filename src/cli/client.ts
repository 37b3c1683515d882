// The CLI is a thin client of the admin API, so it works the same against an embedded database
// (which only the server process may open) and a PostgreSQL server.
import { readAdminTokenFile } from '../admin-token.ts';
import path from 'node:path';

const REQUEST_TIMEOUT_MS = 15_000;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(describeError(status, body));
  }
}

function describeError(status: number, body: unknown): string {
  const envelope = body as { error?: { code?: string; message?: string } } | null;
  if (envelope?.error?.code) return `${status} ${envelope.error.code}: ${envelope.error.message ?? ''}`;
  const detail = (body as { detail?: { loc?: unknown[]; msg?: string }[] } | null)?.detail;
  if (Array.isArray(detail)) return `${status} invalid input: ` + detail.map((d) => `${(d.loc ?? []).slice(1).join('.')}: ${d.msg}`).join('; ');
  return `${status} ${JSON.stringify(body)}`;
}

/** The largest page the admin API serves, and how many items a listing shows at most. */
const PAGE_LIMIT = 100;
const LIST_ITEMS_MAX = 10_000;

export interface AdminClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Every item of a paged list, following next_cursor (at most LIST_ITEMS_MAX). */
  listAll<T>(path: string): Promise<{ items: T[] }>;
}

export async function adminClient(env: NodeJS.ProcessEnv = process.env): Promise<AdminClient> {
  const baseUrl = (env.KASA_URL || `http://localhost:${env.PORT || 3000}`).replace(/\/+$/, '');
  const token = env.ADMIN_TOKEN || (await readAdminTokenFile(path.resolve(env.DATA_DIR || './data')));
  if (!token) {
    throw new Error('No admin token: set ADMIN_TOKEN, or run the CLI where DATA_DIR/admin-token is readable');
  }
  const client: AdminClient = {
    async request<T>(method: string, route: string, body?: unknown): Promise<T> {
      let response: Response;
      try {
        response = await fetch(baseUrl + route, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } catch (error) {
        throw new Error(`Cannot reach Kasa at ${baseUrl} (${(error as Error).message}); set KASA_URL`, { cause: error });
      }
      const text = await response.text();
      const parsed: unknown = text ? JSON.parse(text) : null;
      if (!response.ok) throw new ApiError(response.status, parsed);
      return parsed as T;
    },
    async listAll<T>(route: string) {
      const items: T[] = [];
      let cursor: string | null = null;
      do {
        const separator = route.includes('?') ? '&' : '?';
        const page: { items: T[]; next_cursor?: string | null } = await client.request(
          'GET',
          `${route}${separator}limit=${PAGE_LIMIT}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        items.push(...page.items);
        cursor = page.next_cursor ?? null;
      } while (cursor !== null && items.length < LIST_ITEMS_MAX);
      return { items };
    },
  };
  return client;
}
