import { defineConfig } from 'vitest/config';
import { timeoutFactor } from './test/timeouts.js';

// Decide the factor once, in the main process, so every worker scales by the same amount.
process.env.TEST_TIMEOUT_FACTOR = String(timeoutFactor());
const factor = Number(process.env.TEST_TIMEOUT_FACTOR);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous on purpose (a CLI test takes 15 to 30 s on a quiet machine), and scaled with the load.
    testTimeout: Math.round(120_000 * factor),
    hookTimeout: Math.round(120_000 * factor),
    // Integration tests start real servers and child processes; keep parallelism modest on 2 cores.
    maxWorkers: 2,
  },
});
