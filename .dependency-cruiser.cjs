// Kasa's dependency rules, checked in CI by `npm run lint:deps` (dependency-cruiser).
// The layout is the architecture: pure modules at the bottom, the database below the domains,
// the domains below HTTP, one composition root on top.
const DOMAINS = '(invoices|deals|disputes|ledger|merchants|traders|rates|treasury|webhooks|checkout|workers|people)';
/** The parts of a domain that has several, each with its own routes and schema (topup-routes.ts). */
const PARTS = '(topup-|withdrawal-)';
/** Request models and route plugins: the only files of a domain that speak HTTP. */
const HTTP_FILES = `^src/${DOMAINS}/${PARTS}?(admin-)?(routes|schema)\\.ts$`;
const PURE = '^src/(lifecycle|money|errors|ids|clock)\\.ts$|^src/ledger/accounts\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one idea, or one of them is in the wrong place.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domains-know-no-http',
      severity: 'error',
      comment: 'Domain modules (services, SQL, rules) never import src/http: errors are in src/errors.ts, ids in src/ids.ts.',
      from: { path: `^src/${DOMAINS}/`, pathNot: HTTP_FILES },
      to: { path: '^src/http/' },
    },
    {
      name: 'routes-are-leaves',
      severity: 'error',
      comment: 'Only the composition root (src/context.ts) registers route plugins; nothing else imports them.',
      from: { pathNot: ['^src/context\\.ts$', HTTP_FILES] },
      to: { path: HTTP_FILES },
    },
    {
      name: 'pure-modules-stay-pure',
      severity: 'error',
      comment: 'The lifecycle, money, errors, ids and ledger accounts depend on nothing else of Kasa, so every layer may use them.',
      from: { path: PURE },
      to: { path: '^src/', pathNot: PURE },
    },
    {
      name: 'db-below-domains',
      severity: 'error',
      comment: 'src/db (connection, migrations, row types) knows no domain.',
      from: { path: '^src/db/' },
      to: { path: [`^src/${DOMAINS}/`, '^src/http/'] },
    },
    {
      name: 'one-composition-root',
      severity: 'error',
      comment: 'Only the composition root (src/context.ts) builds the HTTP app; the chassis knows no domain.',
      from: { path: '^src/', pathNot: ['^src/context\\.ts$'] },
      to: { path: '^src/http/app\\.ts$' },
    },
    {
      name: 'http-chassis-knows-no-domain',
      severity: 'error',
      comment: 'src/http (chassis, auth, validation, schemas) imports no domain module but the services auth asks for keys.',
      from: { path: '^src/http/' },
      to: { path: `^src/${DOMAINS}/`, pathNot: ['^src/(merchants|traders)/service\\.ts$', '^src/merchants/keys\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
