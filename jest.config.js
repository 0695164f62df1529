/** One Jest config for every service and lib; integration tests start their own NATS/Postgres through libs/testing. */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  roots: ['<rootDir>/services', '<rootDir>/libs', '<rootDir>/infra'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: false }],
  },
  moduleNameMapper: {
    '^@encedeus/chunks$': '<rootDir>/libs/chunks/src/index.ts',
    '^@encedeus/contracts$': '<rootDir>/libs/contracts/src/index.ts',
    '^@encedeus/fleet$': '<rootDir>/libs/fleet/src/index.ts',
    '^@encedeus/messaging$': '<rootDir>/libs/messaging/src/index.ts',
    '^@encedeus/security$': '<rootDir>/libs/security/src/index.ts',
    '^@encedeus/testing$': '<rootDir>/libs/testing/src/index.ts',
  },
  globalSetup: '<rootDir>/libs/testing/src/jest-global-setup.ts',
  globalTeardown: '<rootDir>/libs/testing/src/jest-global-teardown.ts',
  testTimeout: 60000,
  maxWorkers: 2,
  forceExit: true,
};
