import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import zonix from './scripts/eslint/layers.mjs';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'eslint.config.js', 'scripts/**/*.mjs', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      // Records keyed by dataset name are our maps; deleting their keys is the point.
      '@typescript-eslint/no-dynamic-delete': 'off',
      // Driver methods are async by interface even when one driver has nothing to await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Subsystems import each other through their index.ts, downwards only (scripts/eslint/layers.mjs).
    files: ['src/**/*.ts'],
    plugins: { zonix },
    rules: { 'zonix/layers': ['error', { srcRoot: `${import.meta.dirname}/src` }] },
  },
);
