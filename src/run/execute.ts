import type { Config } from '../config/load.js';
import { openAppStore } from '../store/bootstrap.js';
import { dispatcherFor, RateLimiter, systemClock, type SendLimiter } from '../mail/flow.js';
import { SharedRateLimiter } from '../mail/shared-rate.js';
import type { Store } from '../store/store.js';
import { createTransport } from '../mail/transports/index.js';
import { requirePostalAddress } from '../mail/compliance.js';
import type { LinkSettings } from '../tokens/links.js';
import type { SecretUse } from '../tokens/secret.js';
import { loadInputs } from './context.js';
import type { Outcome } from './deliver.js';
import { acquireRunLock } from './lock.js';
import { runPass, type RunOptions, type RunSummary } from './run.js';

export interface ExecuteHooks {
  links: (config: Config, use: SecretUse) => LinkSettings;
  onOutcome?: (outcome: Outcome) => void;
  onPlanned?: (count: number) => void;
  onWarning?: (message: string) => void;
  /** Called with a function that stops the run cleanly (in-flight sends finish, ledger flushed). */
  onStopHandle?: (stop: () => void) => void;
  command: string;
  now?: () => Date;
}

/**
 * One whole pass with its edges: inputs from disk, the run lock (SQLite), the store, the
 * transport behind the rate limiter and retry policy. Shared by `run`, `schedule` and `serve`.
 */
export async function executeRun(config: Config, options: RunOptions, hooks: ExecuteHooks): Promise<RunSummary> {
  const inputs = await loadInputs(config);
  const realMail = !options.dryRun && config.transport.type !== 'outbox';
  if (realMail) requirePostalAddress(config);
  const links = hooks.links(config, realMail ? 'real-mail' : 'local');
  if (options.dryRun) {
    const store = await openAppStore(config);
    try {
      return await runPass({ config, inputs, store, dispatcher: null, links, now: hooks.now ?? (() => new Date()), concurrency: 1 }, options);
    } finally {
      await store.close();
    }
  }

  // SQLite: one pass at a time (the file lock). PostgreSQL: any number of passes at once, on
  // one machine or several; each section has one planner and any number of senders.
  const lock = config.store.engine === 'sqlite' ? await acquireRunLock(config.paths.state, hooks.command) : null;
  try {
    const store = await openAppStore(config);
    const transport = createTransport(config);
    try {
      const { delivery } = config;
      const dispatcher = dispatcherFor(transport, delivery, sendLimiter(config, store));
      hooks.onStopHandle?.(() => dispatcher.stop('signal'));
      return await runPass(
        {
          config,
          inputs,
          store,
          command: hooks.command,
          dispatcher,
          links,
          now: hooks.now ?? (() => new Date()),
          concurrency: delivery.concurrency,
          onOutcome: hooks.onOutcome,
          onPlanned: hooks.onPlanned,
          onWarning: hooks.onWarning,
        },
        options,
      );
    } finally {
      await store.close();
      await transport.close();
    }
  } finally {
    await lock?.release();
  }
}

/** The bucket row every worker of this list reserves its send times from (PostgreSQL). */
export const SEND_RATE_BUCKET = 'delivery';

/**
 * delivery.ratePerSecond as a total: on PostgreSQL shared by every worker process through one
 * bucket row in the database; on SQLite (one sender) a token bucket in this process.
 */
export function sendLimiter(config: Config, store: Store): SendLimiter {
  const rate = config.delivery.ratePerSecond;
  if (config.store.engine === 'postgres') return new SharedRateLimiter((count, intervalMs) => store.reserveSendSlots(SEND_RATE_BUCKET, count, intervalMs), rate, systemClock);
  return new RateLimiter(rate, systemClock);
}
