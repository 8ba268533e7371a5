import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, UserError } from '../errors.js';
import { readJsonFile } from '../json-file.js';
import { configSchema, type ConfigFile } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'digest-mailer.config.json';

/** The validated config with every path made absolute (relative to the config file). */
export interface Config extends Omit<ConfigFile, 'paths'> {
  file: string;
  paths: ConfigFile['paths'];
}

/** `list.from.address: Invalid email address` style lines, one per issue. */
export function describeZodIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const key = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    return `${key || '(top level)'}: ${issue.message}`;
  });
}

export function parseConfig(raw: unknown, file: string): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      `${file} is not a valid config:\n  ${describeZodIssues(result.error.issues).join('\n  ')}`,
      'Fix the keys named above; README.md "Configuration" lists every key.',
    );
  }
  const base = dirname(file);
  const paths = Object.fromEntries(
    Object.entries(result.data.paths).map(([key, value]) => [key, resolve(base, value)]),
  ) as ConfigFile['paths'];
  return { ...result.data, file, paths };
}

export async function loadConfig(path: string): Promise<Config> {
  const file = resolve(path);
  let raw: unknown;
  try {
    raw = await readJsonFile(file, 'the config file', 'Create it (see README.md "Configuration") or pass --config PATH.');
  } catch (err) {
    throw err instanceof UserError ? new ConfigError(err.message, err.hint) : err;
  }
  return parseConfig(raw, file);
}
