// Authentication hooks. They run on onRequest, before the body is read, so an unauthenticated
// client can make Kasa neither buffer nor parse anything.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Merchant, Merchants } from '../merchants/service.ts';
import { errors } from '../errors.ts';

/** Longer values cannot be keys Kasa issued; refusing them early bounds the hashing work. */
const API_KEY_LENGTH_MAX = 256;

declare module 'fastify' {
  interface FastifyRequest {
    merchant: Merchant | null;
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

export function merchantAuth(merchants: Merchants) {
  return async function requireMerchant(request: FastifyRequest): Promise<void> {
    const merchant = await merchants.authenticate(apiKeyOf(request));
    if (!merchant) throw errors.apiKeyInvalid();
    request.merchant = merchant;
  };
}

/** The authenticated merchant of a route behind merchantAuth. */
export function merchantOf(request: FastifyRequest): Merchant {
  if (!request.merchant) throw new Error('route is missing the merchantAuth hook');
  return request.merchant;
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
