import { formatProblem, type Problem } from '../errors.js';
import { loadConfig, type Config } from '../config/load.js';
import { resolveSecret } from '../tokens/secret.js';
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
 * Link signing settings. Only the local outbox (or a run that sends nothing) may fall back to
 * the public development secret, and it says so loudly.
 */
export function linkSettings(config: Config, sendsRealMail: boolean): LinkSettings {
  const source = resolveSecret(process.env, config.tokens.secretEnv, !sendsRealMail);
  if (source.development) {
    warn(
      `WARNING: ${config.tokens.secretEnv} is not set; unsubscribe and preference links are signed with the PUBLIC ` +
        `DEVELOPMENT secret. Fine for the local outbox; set ${config.tokens.secretEnv} before sending real mail.`,
    );
  }
  return { baseUrl: config.baseUrl, secret: source.secret, ttlDays: config.tokens.linkTtlDays };
}
