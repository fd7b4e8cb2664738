// @ts-check
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.dev/', 'dist/', '.wrangler/', 'coverage/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Edge code (functions/) and the shared code it imports run in workerd: web-standard APIs only.
    files: ['functions/**/*.ts', 'shared/**/*.ts'],
    ignores: ['**/*.test.ts', 'shared/node/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'stream', 'buffer', 'url', 'zlib', 'util', 'worker_threads'].map((name) => ({
            name,
            message: 'Edge code uses web-standard APIs only; Node-specific code lives in shared/node/, gpu-server/ or cli/.',
          })),
          patterns: [{ group: ['node:*'], message: 'Edge code uses web-standard APIs only; Node-specific code lives in shared/node/, gpu-server/ or cli/.' }],
        },
      ],
      'no-restricted-globals': ['error', { name: 'Buffer', message: 'Use Uint8Array / TextEncoder at the edge.' }, { name: 'process', message: 'Edge code gets its configuration from env bindings.' }],
    },
  },
);
