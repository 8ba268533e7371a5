import { formatProblem, type Problem } from '../errors.js';
import { loadConfig, type Config } from '../config/load.js';
import { resolveSecret, type SecretUse } from '../tokens/secret.js';
import type { LinkSettings } from '../tokens/links.js';
import type { GlobalOptions } from './exit.js';

export function loadConfigFrom(globals: GlobalOptions): Promise<Config> {
  return loadConfig(globals.config);
}

export function warn(message: string): void {
  console.error(message);
}

export function printProblems(problems: readonly Problem[]): void {
  if (problems.length === 0) return;
  warn(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the input (the rest goes ahead):`);
  for (const p of problems) warn(`  ${formatProblem(p).replace(/\n/g, '\n  ')}`);
}

/**
 * Link signing settings. Only links written to local files that nothing serves (the outbox, a
 * dry run, render) may fall back to the public development secret, and it says so loudly;
 * real mail and `serve` (which verifies links) refuse it. During a rotation the previous
 * secret verifies links until its date.
 */
export function linkSettings(config: Config, use: SecretUse): LinkSettings {
  const source = resolveSecret(process.env, config.tokens.secretEnv, use);
  if (source.development) {
    warn(
      `WARNING: ${config.tokens.secretEnv} is not set; unsubscribe and preference links are signed with the PUBLIC ` +
        `DEVELOPMENT secret. Fine for the local outbox; set ${config.tokens.secretEnv} before sending real mail.`,
    );
  }
  return { baseUrl: config.baseUrl, secret: source.secret, previous: source.previous, ttlDays: config.tokens.linkTtlDays };
}
