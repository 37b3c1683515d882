// Authentication hooks. They run on onRequest, before the body is read, so an unauthenticated
// client can make Kasa neither buffer nor parse anything.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { claimedKind, type ApiKeyKind, type ApiKeyScope } from '../merchants/keys.ts';
import type { AuthenticatedMerchant, Merchants } from '../merchants/service.ts';
import type { TraderRow, Traders } from '../traders/service.ts';
import { errors } from '../errors.ts';

/** Longer values cannot be keys Kasa issued; refusing them early bounds the hashing work. */
const API_KEY_LENGTH_MAX = 256;

declare module 'fastify' {
  interface FastifyRequest {
    merchant: AuthenticatedMerchant | null;
    trader: TraderRow | null;
  }
}

/** The X-Api-Key of a request (merchant or trader): missing or empty → 401 API_KEY_MISSING. */
export function apiKeyOf(request: FastifyRequest): string {
  const header = request.headers['x-api-key'];
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined || key.trim() === '') throw errors.apiKeyMissing();
  if (key.length > API_KEY_LENGTH_MAX) throw errors.apiKeyInvalid();
  return key;
}

/** errorDocs for the 401s of routes behind merchantAuth. */
export const MERCHANT_AUTH_ERRORS =
  'API_KEY_MISSING: Missing X-Api-Key header; API_KEY_INVALID: Invalid or inactive API key, or, for a valid trader key, "This is a trader API key; the merchant API takes a merchant key" (details.key_kind: trader)';
/** errorDocs for the 403 of routes behind a scope. */
export const scopeErrors = (scope: ApiKeyScope) => `API_KEY_SCOPE: the API key was not granted the ${scope} scope (details.required_scope)`;
/** errorDocs for the 401s of routes behind traderAuth. */
export const TRADER_AUTH_ERRORS =
  'API_KEY_MISSING: Missing X-Api-Key header; API_KEY_INVALID: Invalid or inactive API key, or, for a valid merchant key, "This is a merchant API key; the trader API takes a trader key" (details.key_kind: merchant)';

/**
 * The refusal of a key that authenticates no one of the expected kind. Only a key whose tag
 * claims the other kind is looked up there, by its hash like any key, so unknown keys cost the
 * hot path nothing more and no answer depends on the secret's bytes.
 */
/** Both owners of API keys: a valid key of the other kind is named as such. */
export interface KeyOwners {
  merchants: Pick<Merchants, 'authenticate'>;
  traders: Pick<Traders, 'authenticate'>;
}

async function refusal(owners: KeyOwners, apiKey: string, expected: ApiKeyKind): Promise<Error> {
  const claimed = claimedKind(apiKey);
  if (claimed === null || claimed === expected) return errors.apiKeyInvalid();
  const owner = claimed === 'merchant' ? await owners.merchants.authenticate(apiKey) : await owners.traders.authenticate(apiKey);
  return owner ? errors.apiKeyWrongKind(claimed, expected) : errors.apiKeyInvalid();
}

/**
 * A merchant key granted `scope` (403 API_KEY_SCOPE otherwise); without a scope, any merchant
 * key (the balance: both the shop's server and its payout tooling need it).
 */
export function merchantAuth(owners: KeyOwners, scope?: ApiKeyScope) {
  return async function requireMerchant(request: FastifyRequest): Promise<void> {
    const apiKey = apiKeyOf(request);
    const merchant = await owners.merchants.authenticate(apiKey);
    if (!merchant) throw await refusal(owners, apiKey, 'merchant');
    if (scope !== undefined && !merchant.scopes.includes(scope)) throw errors.apiKeyScope(scope);
    request.merchant = merchant;
  };
}

export function traderAuth(owners: KeyOwners) {
  return async function requireTrader(request: FastifyRequest): Promise<void> {
    const apiKey = apiKeyOf(request);
    const trader = await owners.traders.authenticate(apiKey);
    if (!trader) throw await refusal(owners, apiKey, 'trader');
    request.trader = trader;
  };
}

/** The authenticated merchant of a route behind merchantAuth. */
export function merchantOf(request: FastifyRequest): AuthenticatedMerchant {
  if (!request.merchant) throw new Error('route is missing the merchantAuth hook');
  return request.merchant;
}

/** The authenticated trader of a route behind traderAuth. */
export function traderOf(request: FastifyRequest): TraderRow {
  if (!request.trader) throw new Error('route is missing the traderAuth hook');
  return request.trader;
}

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function adminAuth(adminToken: string) {
  const expected = sha256(adminToken);
  return async function requireAdmin(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    // Comparing digests keeps the comparison constant-time whatever the presented length.
    if (!match?.[1] || !timingSafeEqual(sha256(match[1]), expected)) throw errors.unauthorized();
  };
}
