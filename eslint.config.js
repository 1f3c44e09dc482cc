import js from '@eslint/js'
import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'data/', 'coverage/', '.tap/', '.tmp/', 'node_modules/'] },
  // The client's build output and its generated types (openapi-typescript's, checked by a test against openapi.json).
  { ignores: ['clients/typescript/dist/', 'clients/typescript/node_modules/', 'clients/typescript/src/generated/'] },
  js.configs.recommended,
  // The Fastify ecosystem's style (as fastify/demo uses it): standard's rules for TypeScript, with a line-length bound.
  // Before strictTypeChecked, which wins where both set a rule; both use this one typescript-eslint (parser and plugin).
  ...neostandard({ ts: true, noJsx: true }),
  {
    rules: {
      '@stylistic/max-len': ['error', { code: 140, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }]
    }
  },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'scripts/patch-postgres-driver.mjs'] }, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // neostandard's options would carry over (strictTypeChecked names only the severity): keep its stricter defaults.
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: false, allowTernary: false, allowTaggedTemplates: false }],
      // TypeScript itself reports a real redeclaration (ts2451); the rule would flag a TypeBox schema and its Static<> type sharing a name.
      '@typescript-eslint/no-redeclare': 'off',
      // no-floating-promises takes `void promise;` as "deliberately not awaited": allow that statement, not void elsewhere.
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    // One plugin style: every Fastify plugin (and route plugin) is an async function, whether or not it awaits.
    files: ['plugins/**/*.ts', 'routes/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' }
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked
  },
  {
    // tap runs subtests from async callbacks whose promises it tracks itself, and
    // inject().json() is untyped by design: tests assert on its shape instead.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off'
    }
  }
)
