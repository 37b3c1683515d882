// The JSON shapes of users and audit rows in the admin API.
import type { JsonSchema } from '../http/validation.ts';
import { record, timestamp } from '../http/schemas.ts';

const nullableUuid = (description: string): JsonSchema => ({ type: ['string', 'null'], format: 'uuid', description });

export const userObject = record(
  {
    user_id: { type: 'string', format: 'uuid' },
    email: { type: 'string', description: 'Unique whatever its case' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['operator', 'merchant', 'trader'] },
    merchant_id: nullableUuid('The merchant a merchant user belongs to'),
    merchant_role: { type: ['string', 'null'], enum: ['owner', 'developer', 'viewer', null], description: "A merchant user's role there" },
    trader_id: nullableUuid('The trader a trader user belongs to'),
    status: { type: 'string', enum: ['active', 'disabled'] },
    has_password: { type: 'boolean', description: 'The set-password link was used' },
    totp_enabled: { type: 'boolean', description: 'Sign-in asks for a 6-digit code' },
    created_at: timestamp('When the user was created'),
  },
  'A person who signs in to the cabinets',
);

export const createdUser = record(
  {
    user: userObject,
    set_password_url: { type: 'string', format: 'uri', description: 'Give this to the person: it sets their password (and TOTP) once' },
    set_password_expires_at: timestamp('The link works until then (24 h)'),
  },
  'The new user and their one-time set-password link',
);

export const auditRowObject = record(
  {
    id: { type: 'string', description: 'Sequence number, newest highest' },
    at: timestamp('When'),
    actor_kind: { type: 'string', enum: ['user', 'admin_token', 'system'] },
    actor_id: nullableUuid('The user who acted'),
    actor_email: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'], description: 'The client address of the request' },
    action: { type: 'string', example: 'user.create' },
    target: { type: 'string', example: 'user:6f1c…' },
    merchant_id: nullableUuid('The merchant the change concerns'),
    before: { type: ['object', 'null'], additionalProperties: true, description: 'Changed fields before (secrets never recorded)' },
    after: { type: ['object', 'null'], additionalProperties: true, description: 'Changed fields after' },
  },
  'One change, who made it and from where',
);
