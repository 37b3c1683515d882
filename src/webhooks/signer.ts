// Standard Webhooks 1.0 signatures, so merchants verify with the official `standardwebhooks`
// libraries. Symmetric: "v1,<base64 HMAC-SHA256(secret bytes, id.timestamp.body)>", keyed by the
// bytes of a `whsec_<base64>` secret. Asymmetric: "v1a,<base64 Ed25519 signature>" of the same
// content, verified with the merchant's `whpk_<base64>` public key. Several signatures (a rotated
// secret, the Ed25519 key) travel space-separated in one webhook-signature header.
import { createHmac, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const PUBLIC_KEY_PREFIX = 'whpk_';
const PRIVATE_KEY_PREFIX = 'whsk_';

export function signedContent(id: string, timestampSeconds: number, body: string): string {
  return `${id}.${timestampSeconds}.${body}`;
}

export function hmacSignature(secret: string, content: string): string {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('webhook secret must start with whsec_');
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`;
}

export function ed25519Signature(privateKey: string, content: string): string {
  if (!privateKey.startsWith(PRIVATE_KEY_PREFIX)) throw new Error('signing key must start with whsk_');
  const key = createPrivateKey({ key: Buffer.from(privateKey.slice(PRIVATE_KEY_PREFIX.length), 'base64'), format: 'der', type: 'pkcs8' });
  return `v1a,${sign(null, Buffer.from(content, 'utf8'), key).toString('base64')}`;
}

/** A new Ed25519 key pair: the private key stays in Kasa, the public one (`whpk_`) goes to the merchant. */
export function generateSigningKeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // The raw 32-byte public key is the last 32 bytes of its SPKI DER encoding.
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    privateKey: PRIVATE_KEY_PREFIX + privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicKey: PUBLIC_KEY_PREFIX + raw.toString('base64'),
  };
}

export interface SigningKeys {
  secret: string;
  /** The secret before the last rotation, while it still signs. */
  previousSecret: string | null;
  ed25519PrivateKey: string | null;
}

/** The webhook-signature header value for one attempt. */
export function signatureHeader(keys: SigningKeys, id: string, timestampSeconds: number, body: string): string {
  const content = signedContent(id, timestampSeconds, body);
  const signatures = [hmacSignature(keys.secret, content)];
  if (keys.previousSecret) signatures.push(hmacSignature(keys.previousSecret, content));
  if (keys.ed25519PrivateKey) signatures.push(ed25519Signature(keys.ed25519PrivateKey, content));
  return signatures.join(' ');
}
