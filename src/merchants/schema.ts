// How merchants and their API keys are documented in the admin API. The webhook secret and a
// new API key appear in the answer that creates them and nowhere else.
import { nullableTimestamp, record, timestamp } from '../http/schemas.ts';
import type { JsonSchema } from '../http/validation.ts';
import { issuedApiKey } from '../traders/schema.ts';
import { API_KEY_SCOPES } from './keys.ts';

export const merchantObject = record({
  merchant_id: { type: 'string', format: 'uuid' },
  name: { type: 'string' },
  status: { type: 'string', enum: ['active', 'disabled'], description: 'disabled: its keys stop working at once' },
  fee_percent: { type: 'string', description: 'Commission in percent', examples: ['2.00'] },
  webhook_url: { type: ['string', 'null'], description: 'Default webhook URL; null: none' },
  created_at: timestamp('When the merchant was created'),
  updated_at: timestamp('When the merchant last changed'),
});

export const createdMerchant = record({
  ...(merchantObject.properties as Record<string, JsonSchema>),
  webhook_secret: { type: 'string', description: 'Signing secret of its webhooks (whsec_…), to verify them with a Standard Webhooks library' },
  ...(issuedApiKey.properties as Record<string, JsonSchema>),
});

const apiKeyScopes: JsonSchema = {
  type: 'array',
  items: { type: 'string', enum: [...API_KEY_SCOPES] },
  description: 'What the key may do: invoices (invoices, webhooks, balance), withdrawals (withdraw the balance)',
  examples: [['invoices']],
};

/** A merchant key as issued: the key itself (shown once) and its scopes. */
export const issuedMerchantApiKey = record({ ...(issuedApiKey.properties as Record<string, JsonSchema>), scopes: apiKeyScopes });

export const apiKeyObject = record({
  key_id: { type: 'string', format: 'uuid' },
  merchant_id: { type: 'string', format: 'uuid' },
  prefix: { type: 'string', description: 'The first characters of the key; the key itself is never shown again' },
  scopes: apiKeyScopes,
  created_at: timestamp('When the key was issued'),
  revoked_at: nullableTimestamp('When the key was revoked; null while it works'),
});

export { issuedApiKey };
