import { availableParallelism, loadavg } from 'node:os';

/**
 * How much slower than an idle machine the tests may run: TEST_TIMEOUT_FACTOR if set, else
 * the load per core when the run starts (1 to 10), from the higher of the 1- and 5-minute load
 * averages (a start in a short lull on a busy shared machine must not set a small factor: a
 * suite takes half an hour there, and the load comes back). Every timeout in the tests is
 * multiplied by it, so a loaded CI machine gets more time instead of failures, and a quiet one
 * fails fast.
 */
export function timeoutFactor(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.TEST_TIMEOUT_FACTOR);
  if (Number.isFinite(fromEnv) && fromEnv > 0) return fromEnv;
  const [one, five] = loadavg();
  return Math.min(10, Math.max(1, Math.max(one!, five!) / availableParallelism()));
}

/** A timeout in ms, scaled by the factor (fixed once per run: vitest.config.ts exports it to the workers). */
export function scaled(ms: number): number {
  return Math.round(ms * timeoutFactor());
}
