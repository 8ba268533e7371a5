import { availableParallelism, loadavg } from 'node:os';

/**
 * How much slower than an idle machine the tests may run: TEST_TIMEOUT_FACTOR if set, else
 * the load per core when the run starts (1 to 6). Every timeout in the tests is multiplied by
 * it, so a loaded CI machine gets more time instead of failures, and a quiet one fails fast.
 */
export function timeoutFactor(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.TEST_TIMEOUT_FACTOR);
  if (Number.isFinite(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.min(6, Math.max(1, loadavg()[0]! / availableParallelism()));
}

/** A timeout in ms, scaled by the factor (fixed once per run: vitest.config.ts exports it to the workers). */
export function scaled(ms: number): number {
  return Math.round(ms * timeoutFactor());
}
