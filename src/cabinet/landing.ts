// The first page of a cabinet whose sections are still to come: behind sign-in, it names the
// person and lets them sign out. The merchant cabinet and the operator console start here.
import type { UserRole } from '../db/schema.ts';
import { textResponse } from '../http/schemas.ts';
import type { KasaApp } from '../http/validation.ts';
import { html, roleHome } from './layout.ts';
import type { CabinetKit, CabinetSection } from './plugin.ts';

export function landing(path: string, role: UserRole, operationId: string): CabinetSection {
  return async function landingSection(app: KasaApp, kit: CabinetKit) {
    app.get(
      path,
      {
        schema: {
          summary: `The ${role === 'operator' ? 'operator console' : 'merchant cabinet'} (HTML; sign-in required)`,
          operationId,
          tags: ['cabinets'],
          security: [],
          response: {
            200: textResponse('text/html', 'The cabinet'),
            303: { description: 'Not signed in: to /login' },
            403: textResponse('text/html', 'Another role’s cabinet'),
          },
        },
        onRequest: kit.requireUser([role]),
      },
      async (request, reply) => {
        const user = kit.userOf(request);
        const title = roleHome(kit.lang(request), user.role);
        return kit.sendPage(request, reply, {
          title,
          content: html`<h1>${title}</h1><p class="lead">${kit.strings(request).signedInAs} <strong>${user.name}</strong> (${user.email})</p>`,
        });
      },
    );
  };
}
