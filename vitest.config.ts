import { defineConfig } from 'vitest/config';

// Tests sit beside the code. GPU tests share one lavapipe device per file; files run in
// parallel forks (2 cores here), so each file's work is kept small.
export default defineConfig({
  test: {
    include: ['kernels/**/*.test.ts', 'model/**/*.test.ts', 'trainer/**/*.test.ts', 'serving/**/*.test.ts', 'scripts/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
