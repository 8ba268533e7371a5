/**
 * Errors a user can act on. The CLI prints `message` (and `hint`) without a stack trace;
 * anything that is not a UserError is a bug and is printed with its stack under --verbose.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The command line is wrong (a missing or contradictory option): exit 2, like commander's own usage errors. */
export class UsageError extends UserError {}

/** The config file or the environment is wrong; the message names the key. */
export class ConfigError extends UserError {}

/** An input file (digest, subscribers, topics, template) is wrong; the message names file and line or entry. */
export class InputError extends UserError {}

/**
 * A problem found in one part of an input that does not stop the rest: a malformed digest
 * section, a bad subscriber entry. Collected and reported, never thrown.
 */
export interface Problem {
  /** Where: `file:line`, or `file` plus the entry, e.g. `subscribers.json entry #3 (a@b.c)`. */
  where: string;
  message: string;
  hint?: string;
}

export function formatProblem(p: Problem): string {
  return `${p.where}: ${p.message}${p.hint ? `\n  -> ${p.hint}` : ''}`;
}
