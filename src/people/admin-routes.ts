// Admin API: the people who sign in to the cabinets, and the audit log.
import { adminAuth } from '../http/auth.ts';
import { pageFields, pageRequest } from '../http/paging.ts';
import { pageOf } from '../http/schemas.ts';
import { enumeration, model, optional, string, uuid, type KasaApp } from '../http/validation.ts';
import { isoSeconds } from '../clock.ts';
import { mapPage } from '../db/cursor.ts';
import type { Audit, AuditRow } from './audit.ts';
import { auditRowObject, createdUser, userObject } from './schema.ts';
import { EMAIL_LENGTH_MAX, type User, type Users } from './users.ts';

const ADMIN_ERRORS = { 401: 'UNAUTHORIZED: missing or invalid admin token', 422: 'Validation error' };

export function userView(user: User) {
  return {
    user_id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    merchant_id: user.merchant_id,
    merchant_role: user.merchant_role,
    trader_id: user.trader_id,
    status: user.status,
    has_password: user.has_password,
    totp_enabled: user.totp_enabled,
    created_at: isoSeconds(user.created_at),
  };
}

export function auditView(row: AuditRow) {
  return { ...row, id: String(row.id), at: row.at.toISOString() };
}

export async function peopleAdminRoutes(
  app: KasaApp,
  { adminToken, users, audit, publicUrl }: { adminToken: string; users: Users; audit: Audit; publicUrl: string },
) {
  app.addHook('onRequest', adminAuth(adminToken));
  const security = [{ adminToken: [] }];
  const tags = ['admin: users'];
  const newUser = model({
    email: string({ min: 3, max: EMAIL_LENGTH_MAX, description: 'Signs in with it; unique whatever its case', example: 'anna@shop.example' }),
    name: optional(string({ min: 1, max: 200, description: 'Shown in the cabinet; the part before @ by default' })),
    role: enumeration(['operator', 'merchant', 'trader'] as const),
    merchant_id: optional(uuid({ description: 'For role merchant: the merchant the user belongs to' })),
    merchant_role: optional(
      enumeration(['owner', 'developer', 'viewer'] as const, {
        description: 'For role merchant: owner (everything), developer (keys and webhooks), viewer (reads only)',
      }),
    ),
    trader_id: optional(uuid({ description: 'For role trader: the trader the user belongs to' })),
  });
  const userParams = model({ id: string({ min: 1, max: 64 }) });
  const listQuery = model({ ...pageFields, merchant_id: optional(uuid()), trader_id: optional(uuid()) });
  const auditQuery = model({
    ...pageFields,
    merchant_id: optional(uuid({ description: "Only this merchant's rows" })),
    action: optional(string({ min: 1, max: 100 })),
  });
  const link = (token: string) => `${publicUrl}/set-password/${token}`;

  app.post(
    '/users',
    {
      schema: {
        summary: 'Create a user of the cabinets (answers a one-time set-password link, valid 24 h)',
        description:
          'An operator, a merchant user (merchant_id and merchant_role) or a trader user (trader_id). The person opens set_password_url, chooses a password and, for operators and traders, enrolls TOTP.',
        operationId: 'createUser',
        tags,
        security,
        body: newUser.schema,
        response: { 201: createdUser },
      },
      config: {
        errorDocs: {
          ...ADMIN_ERRORS,
          400: 'USER_OWNER_INVALID: the role and merchant_id / merchant_role / trader_id do not fit, or the email is not an address',
          404: 'MERCHANT_NOT_FOUND, TRADER_NOT_FOUND',
          409: 'USER_EMAIL_TAKEN',
        },
      },
    },
    async (request, reply) => {
      const created = await users.create(request.body, { actor: { kind: 'admin_token' }, ip: request.ip });
      reply.code(201);
      return { user: userView(created.user), set_password_url: link(created.linkToken), set_password_expires_at: isoSeconds(created.linkExpiresAt) };
    },
  );

  app.get(
    '/users',
    {
      schema: {
        summary: 'List users, in creation order',
        operationId: 'listUsers',
        tags,
        security,
        querystring: listQuery.schema,
        response: { 200: pageOf(userObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) =>
      mapPage(await users.list({ merchantId: request.query.merchant_id, traderId: request.query.trader_id }, pageRequest(request.query)), userView),
  );

  app.get(
    '/users/:id',
    {
      schema: { summary: 'Get a user', operationId: 'getUser', tags, security, params: userParams.schema, response: { 200: userObject } },
      config: { errorDocs: { ...ADMIN_ERRORS, 404: 'USER_NOT_FOUND' } },
    },
    async (request) => userView(await users.get(request.params.id)),
  );

  app.post(
    '/users/:id/password-link',
    {
      schema: {
        summary: 'A new set-password link for a user (a reset); earlier unused links stop working',
        operationId: 'createUserPasswordLink',
        tags,
        security,
        params: userParams.schema,
        response: {
          201: {
            type: 'object',
            required: ['set_password_url', 'set_password_expires_at'],
            properties: { set_password_url: { type: 'string', format: 'uri' }, set_password_expires_at: { type: 'string', format: 'date-time' } },
          },
        },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 404: 'USER_NOT_FOUND' } },
    },
    async (request, reply) => {
      const created = await users.newPasswordLink(request.params.id, { actor: { kind: 'admin_token' }, ip: request.ip });
      reply.code(201);
      return { set_password_url: link(created.linkToken), set_password_expires_at: isoSeconds(created.linkExpiresAt) };
    },
  );

  app.get(
    '/audit',
    {
      schema: {
        summary: 'The audit log, newest first',
        description:
          'Every change made by an operator, a merchant user or the admin token: who, when, from which address, the fields before and after (never a secret).',
        operationId: 'listAuditLog',
        tags: ['admin: audit'],
        security,
        querystring: auditQuery.schema,
        response: { 200: pageOf(auditRowObject) },
      },
      config: { errorDocs: { ...ADMIN_ERRORS, 400: 'INVALID_CURSOR' } },
    },
    async (request) =>
      mapPage(await audit.list({ merchantId: request.query.merchant_id, action: request.query.action }, pageRequest(request.query)), auditView),
  );
}
