// The users of one merchant or trader on its console page: the list and the invite form, whose
// answer is the one-time set-password link (Users.create records the audit row itself).
import type { FastifyRequest } from 'fastify';
import type { MerchantRole } from '../../db/schema.ts';
import type { User, Users } from '../../people/users.ts';
import { EMAIL_LENGTH_MAX } from '../../people/users.ts';
import { formText } from '../forms.ts';
import { csrfField, html, type Frame, type Html } from '../layout.ts';
import type { CabinetKit } from '../plugin.ts';
import { formInvalid, NAME_CHARS_MAX, shortTime, table } from './common.ts';
import type { OperatorStrings } from './strings.ts';

const MERCHANT_ROLES: readonly MerchantRole[] = ['owner', 'developer', 'viewer'];

export function usersTable(s: OperatorStrings, users: User[], withRole: boolean): Html {
  return table(
    s,
    [s.email, s.name, ...(withRole ? [s.role] : []), s.status, s.hasPassword, s.created],
    users.map(
      (u) =>
        html`<tr><td>${u.email}</td><td>${u.name}</td>${withRole ? html`<td>${u.merchant_role ?? ''}</td>` : null}<td>${u.status === 'active' ? s.active : s.disabled}</td><td>${u.has_password ? s.yes : s.no}</td><td>${shortTime(u.created_at)}</td></tr>`,
    ),
  );
}

export function inviteForm(frame: Frame, s: OperatorStrings, action: string, withRole: boolean): Html {
  return html`<form method="post" action="${action}" class="stack">${csrfField(frame)}
<label for="invite-email">${s.email}</label><input id="invite-email" name="email" type="email" autocomplete="off" required maxlength="${EMAIL_LENGTH_MAX}">
<label for="invite-name">${s.name}</label><input id="invite-name" name="name" maxlength="${NAME_CHARS_MAX}">
${
  withRole
    ? html`<label for="invite-role">${s.merchantRole}</label><select id="invite-role" name="merchant_role">
<option value="owner">${s.roleOwner}</option><option value="developer">${s.roleDeveloper}</option><option value="viewer" selected>${s.roleViewer}</option></select>`
    : null
}
<button type="submit" class="primary">${s.invite}</button></form>`;
}

/** Invites a user of the merchant (with its role) or of the trader; answers the link to set a password. */
export async function invite(
  kit: CabinetKit,
  users: Users,
  request: FastifyRequest,
  s: OperatorStrings,
  owner: { merchantId: string } | { traderId: string },
): Promise<string> {
  const email = formText(request.body, 'email', EMAIL_LENGTH_MAX + 1).trim();
  if (!email || email.length > EMAIL_LENGTH_MAX) throw formInvalid(s.badEmail);
  const name = formText(request.body, 'name', NAME_CHARS_MAX).trim() || undefined;
  let input;
  if ('merchantId' in owner) {
    const role = formText(request.body, 'merchant_role', 16) as MerchantRole;
    if (!MERCHANT_ROLES.includes(role)) throw formInvalid(s.badRole);
    input = { email, name, role: 'merchant' as const, merchant_id: owner.merchantId, merchant_role: role };
  } else {
    input = { email, name, role: 'trader' as const, trader_id: owner.traderId };
  }
  const created = await users.create(input, kit.actor(request));
  return `${kit.publicUrl}/set-password/${created.linkToken}`;
}
