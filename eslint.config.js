// ESLint (flat config): typescript-eslint's type-checked recommended rules over src, test, bench and
// scripts. Layout is prettier's (npm run lint runs both; npm run format rewrites).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'packaging/', 'docs/', 'keys/', 'state/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test() and describe() return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      // Signal handlers and timers are set up before the value they use is assigned (src/server/main.ts).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `const { drop: _drop, ...rest } = x` leaves keys out on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      // Backends implement async interfaces; `async` also turns a throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // The doctor's lines separate fields with two spaces; tests match them literally.
      'no-regex-spaces': 'off',
    },
  },
  {
    // Tests put parsed log fields (unknown JSON) and values of union types into their messages, and
    // swap methods out to watch them.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // CommonJS by design: the command loads the client bundle with require (src/knockspa.cts).
    files: ['**/*.cts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Plain JS (this file) is outside tsconfig: no type information.
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
