import tseslint from 'typescript-eslint';

/**
 * The layers of DESIGN.md, as what each folder may import: dependencies point
 * down the picture (api → server → raft/mvcc/... → storage), and the bottom
 * layers know nothing of the ones above them.
 */
const layer = (folder, forbidden) => ({
  files: [`${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((name) => ({
          group: [`**/${name}/*`, `**/${name}`],
          message: `${folder} sits below ${name} in DESIGN.md's layers and may not import it.`,
        })),
      },
    ],
  },
});

const ABOVE_SERVER = ['api', 'embed', 'cli', 'natswatch', 'client'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '**/*.xetcd/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, allowDefaultCaseForExhaustiveSwitch: true },
      ],
    },
  },
  layer('src/proto', [
    'raft',
    'storage',
    'mvcc',
    'lease',
    'auth',
    'transport',
    'server',
    'machines',
    ...ABOVE_SERVER,
  ]),
  layer('src/raft', ['storage', 'mvcc', 'lease', 'auth', 'transport', 'server', ...ABOVE_SERVER]),
  layer('src/storage', ['raft', 'mvcc', 'lease', 'auth', 'transport', 'server', 'machines', ...ABOVE_SERVER]),
  layer('src/mvcc', ['raft', 'lease', 'auth', 'transport', 'server', 'machines', ...ABOVE_SERVER]),
  layer('src/lease', ['raft', 'storage', 'auth', 'transport', 'server', 'machines', ...ABOVE_SERVER]),
  layer('src/auth', ['raft', 'lease', 'transport', 'server', 'machines', ...ABOVE_SERVER]),
  layer('src/transport', ['raft', 'mvcc', 'lease', 'auth', 'server', 'machines', ...ABOVE_SERVER]),
  layer('src/server', ABOVE_SERVER),
  layer('src/api', ['raft', 'storage', 'transport', 'machines', 'embed', 'cli']),
  layer('src/embed', ['cli']),
  // The NATS watch publisher sits beside api/: it reads the MVCC store of a running member.
  layer('src/natswatch', [
    'raft',
    'storage',
    'lease',
    'auth',
    'transport',
    'server',
    'machines',
    'api',
    'embed',
    'cli',
    'client',
  ]),
  // The library a user imports: the wire formats of natswatch/ and the protos, nothing of a member.
  layer('src/client', [
    'raft',
    'storage',
    'mvcc',
    'lease',
    'auth',
    'transport',
    'server',
    'machines',
    'api',
    'embed',
    'cli',
  ]),
  layer('machines', ['storage', 'mvcc', 'lease', 'auth', 'transport', 'server', ...ABOVE_SERVER]),
);
