// Lint rules, run in CI by `npm run lint`: typescript-eslint's recommended set with type
// information, plus the few rules that catch what hurts a payment service (a promise nobody
// awaits, an `any` in domain code).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'test-results/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A floating promise is a write nobody waits for and an error nobody sees.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test runs what describe() and test() register; their promises are the runner's.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'test', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // Tests read answers they have just asserted the shape of; `any` stays out of src only.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  { files: ['src/checkout/assets/*.js', 'src/cabinet/assets/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['bin/*.js', '*.js', '*.cjs'], languageOptions: { globals: globals.node } },
);
