// The cryptography of people: password hashes (scrypt, memory-hard), TOTP codes (RFC 6238),
// the secret box that keeps TOTP secrets encrypted at rest, and the random tokens of sessions,
// set-password links and recovery codes, stored only as their SHA-256.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { COMMON_PASSWORDS } from './common-passwords.ts';

// OWASP's scrypt equivalent of N=2^17, r=8, p=1 at a quarter of the memory: 32 MiB per hash,
// so the four threads of libuv's pool stay within 128 MiB under a burst of sign-ins.
const SCRYPT_COST = 2 ** 15;
const SCRYPT_BLOCK_SIZE = 8;
const SCRYPT_PARALLELISM = 3;
const SCRYPT_KEY_BYTES = 32;
const SCRYPT_SALT_BYTES = 16;
const SCRYPT_MEMORY_MAX_BYTES = 64 * 1024 * 1024;

export const PASSWORD_LENGTH_MIN = 10;
/** Longer passwords are refused: hashing cost grows with the input, and no one types more. */
export const PASSWORD_LENGTH_MAX = 200;

export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Codes of one step before or after now are accepted: phones' clocks drift. */
const TOTP_WINDOW_STEPS = 1;
const TOTP_SECRET_BYTES = 20;
const TOTP_ISSUER = 'Kasa';

const TOKEN_BYTES = 32;
export const RECOVERY_CODE_COUNT = 10;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, SCRYPT_KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

const SCRYPT_OPTIONS: ScryptOptions = { N: SCRYPT_COST, r: SCRYPT_BLOCK_SIZE, p: SCRYPT_PARALLELISM, maxmem: SCRYPT_MEMORY_MAX_BYTES };

/** `scrypt$N$r$p$salt$key`, so the parameters can be raised without invalidating old hashes. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await scryptAsync(password, salt, SCRYPT_OPTIONS);
  return ['scrypt', SCRYPT_COST, SCRYPT_BLOCK_SIZE, SCRYPT_PARALLELISM, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** A hash of nothing anyone knows: checked when no user has the email, so the answer takes as long. */
let decoyHash: Promise<string> | null = null;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(randomBytes(TOKEN_BYTES).toString('base64url'));
  return decoyHash;
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT_MEMORY_MAX_BYTES });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Why a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, email: string): string | null {
  if (password.length < PASSWORD_LENGTH_MIN) return 'too_short';
  if (password.length > PASSWORD_LENGTH_MAX) return 'too_long';
  const lowered = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lowered) || lowered === email.toLowerCase() || lowered === email.toLowerCase().split('@')[0]) return 'common';
  if (new Set(lowered).size < 4) return 'common';
  return null;
}

// -- TOTP ---------------------------------------------------------------------------------------

export function newTotpSecret(): string {
  return new Secret({ size: TOTP_SECRET_BYTES }).base32;
}

function totp(secretBase32: string, label: string): TOTP {
  return new TOTP({
    issuer: TOTP_ISSUER,
    label,
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret: Secret.fromBase32(secretBase32),
  });
}

/** The otpauth:// URI an authenticator app takes (as a link or typed from its secret). */
export function totpUri(secretBase32: string, label: string): string {
  return totp(secretBase32, label).toString();
}

/** The code at a time (tests and the demo compute what a phone would show). */
export function totpCode(secretBase32: string, at: Date): string {
  return totp(secretBase32, 'code').generate({ timestamp: at.getTime() });
}

/**
 * The 30-second step a code belongs to, when it is valid around `at`; null otherwise. The
 * caller accepts a step only if it is later than the last one accepted, so a code works once.
 */
export function totpStep(secretBase32: string, code: string, at: Date): number | null {
  if (!new RegExp(`^\\d{${TOTP_DIGITS}}$`).test(code)) return null;
  const delta = totp(secretBase32, 'code').validate({ token: code, timestamp: at.getTime(), window: TOTP_WINDOW_STEPS });
  if (delta === null) return null;
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS) + delta;
}

// -- The secret box -------------------------------------------------------------------------------

const BOX_VERSION = 'v1';
const BOX_IV_BYTES = 12;

/** AES-256-GCM under a key derived from the installation's secret key; authenticated, so a changed ciphertext fails. */
export class SecretBox {
  private readonly key: Buffer;
  constructor(secretKey: string) {
    this.key = Buffer.from(hkdfSync('sha256', secretKey, 'kasa', 'kasa secret box v1', 32));
  }

  seal(plain: string): string {
    const iv = randomBytes(BOX_IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [BOX_VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== BOX_VERSION || !iv || !tag || body === undefined) throw new Error('secret box: unknown format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}

// -- Tokens ---------------------------------------------------------------------------------------

export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** xxxxx-xxxxx from an alphabet without look-alikes: 50 bits, typed from paper once. */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
export function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  const chars = [...bytes].map((b) => RECOVERY_ALPHABET[b % RECOVERY_ALPHABET.length]);
  return `${chars.slice(0, 5).join('')}-${chars.slice(5).join('')}`;
}

/** Recovery codes are compared without case, spaces or dashes, as people type them. */
export function recoveryCodeHash(code: string): Buffer {
  return tokenHash(code.toLowerCase().replace(/[\s-]/g, ''));
}
