// ESLint (flat config): the recommended rules of ESLint and typescript-eslint, and the type-aware
// rules that catch what a test rarely does: a promise nobody awaits or catches, a promise where a
// callback's result is ignored. Formatting is Prettier's (npm run format), not ESLint's.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', '.bench/**', '.scratch/**', 'coverage/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_name` marks what a signature must take but the body does not use
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // a variable a teardown reads, assigned later in the test, must stay a let
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // the dashboard's files run in the browser, as they are: browser globals, and none of Node's
    // (a `process` or `Buffer` there would only fail in the browser)
    files: ['routes/ui/assets/**/*.js'],
    languageOptions: {
      globals: {
        ...Object.fromEntries(Object.keys(globals.node).map((name) => [name, 'off'])),
        ...globals.browser,
      },
    },
  },
  {
    // shadows/client runs in browsers too: nothing of Node's (scripts/dependencies.mjs keeps its
    // imports to types only, but for its own files)
    files: ['src/http-client/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['process', 'Buffer', 'global', 'require', 'module', '__dirname', '__filename', 'setImmediate', 'clearImmediate'].map((name) => ({
          name,
          message: 'shadows/client runs in browsers too: use the web platform (fetch, TextDecoder, AbortController, globalThis).',
        })),
      ],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: ['./tsconfig.json', './tsconfig.test.json'], tsconfigRootDir: import.meta.dirname } },
    rules: {
      // tap's t.test() and t.teardown() return promises tap itself awaits
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'teardown'], package: '@tapjs/test' }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
)
