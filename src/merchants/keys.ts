// API keys and signing secrets. A key is a long random secret with a readable prefix; only its
// SHA-256 is stored, so a database leak reveals no usable key. Lookup is by hash; the final
// comparison is constant-time so no timing difference depends on the secret's bytes.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY_SECRET_BYTES = 32;
/** Characters of the secret kept in the readable prefix, enough to tell keys apart in a list. */
const KEY_PREFIX_SECRET_CHARS = 8;

export interface GeneratedKey {
  apiKey: string;
  prefix: string;
  hash: Buffer;
}

export function hashKey(apiKey: string): Buffer {
  return createHash('sha256').update(apiKey, 'utf8').digest();
}

export type ApiKeyKind = 'merchant' | 'trader';

/**
 * What a merchant key may do: `invoices` (create, read and cancel invoices, webhooks, balance),
 * `withdrawals` (move the balance out). A key issued without scopes has `invoices` only, so a
 * key leaked from a shop's server cannot empty its balance unless it was granted that.
 */
export const API_KEY_SCOPES = ['invoices', 'withdrawals'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];
export const DEFAULT_API_KEY_SCOPES: readonly ApiKeyScope[] = ['invoices'];
const KIND_TAGS: Record<ApiKeyKind, string> = { merchant: 'sk', trader: 'tk' };

/** The kind a key's readable tag claims (kasa_sk_…, kasa_tk_…); the key may still be unknown. */
export function claimedKind(apiKey: string): ApiKeyKind | null {
  for (const kind of Object.keys(KIND_TAGS) as ApiKeyKind[]) if (apiKey.startsWith(`kasa_${KIND_TAGS[kind]}_`)) return kind;
  return null;
}

export function generateApiKey(owner: ApiKeyKind = 'merchant'): GeneratedKey {
  const kind = KIND_TAGS[owner];
  const apiKey = `kasa_${kind}_${randomBytes(KEY_SECRET_BYTES).toString('base64url')}`;
  const tag = `kasa_${kind}_`;
  return { apiKey, prefix: apiKey.slice(0, tag.length + KEY_PREFIX_SECRET_CHARS), hash: hashKey(apiKey) };
}

export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Standard Webhooks signing secret: whsec_ + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
