import type { Config } from '../config/load.js';
import { openAppStore } from '../store/bootstrap.js';
import { dispatcherFor } from '../mail/flow.js';
import { createTransport } from '../mail/transports/index.js';
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
  /** Called with a function that stops the run cleanly (in-flight sends finish, ledger flushed). */
  onStopHandle?: (stop: () => void) => void;
  command: string;
  now?: () => Date;
}

/**
 * One whole pass with its edges: inputs from disk, the cross-process lock, the ledger, the
 * transport behind the rate limiter and retry policy. Shared by `run`, `schedule` and `serve`.
 */
export async function executeRun(config: Config, options: RunOptions, hooks: ExecuteHooks): Promise<RunSummary> {
  const inputs = await loadInputs(config);
  const realMail = !options.dryRun && config.transport.type !== 'outbox';
  const links = hooks.links(config, realMail ? 'real-mail' : 'local');
  if (options.dryRun) {
    const store = await openAppStore(config);
    try {
      return await runPass({ config, inputs, store, dispatcher: null, links, now: hooks.now ?? (() => new Date()), concurrency: 1 }, options);
    } finally {
      await store.close();
    }
  }

  const lock = await acquireRunLock(config.paths.state, hooks.command);
  try {
    const transport = createTransport(config);
    const { delivery } = config;
    const dispatcher = dispatcherFor(transport, delivery);
    hooks.onStopHandle?.(() => dispatcher.stop('signal'));
    const store = await openAppStore(config);
    try {
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
        },
        options,
      );
    } finally {
      await store.close();
      await transport.close();
    }
  } finally {
    await lock.release();
  }
}
