import { deflateRawSync } from 'node:zlib';
import { ConfigError } from '../errors.js';

/**
 * Used only by a run (or render) that writes to the local outbox when no secret is set, so
 * `npm start` works out of the box. Links signed with it are worthless: anyone can read this
 * line. Nothing that verifies links (`serve`) and nothing that sends real mail accepts it.
 */
export const DEVELOPMENT_SECRET = 'digest-mailer-DEVELOPMENT-ONLY-secret-do-not-use-for-real-mail';

const GENERATE = `node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`;

/** What the secret is for: signing links into files nobody serves, signing real mail, or verifying links (`serve`). */
export type SecretUse = 'local' | 'real-mail' | 'serve';

export interface SecretSource {
  /** Signs new links (and verifies them). */
  secret: string;
  development: boolean;
  /** The secret before a rotation: still verifies links until `until`, signs nothing. */
  previous?: { secret: string; until: Date } | undefined;
}

/** Shannon entropy of the characters, in bits per character. */
function bitsPerChar(value: string): number {
  const counts = new Map<string, number>();
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1);
  const n = [...value].length;
  let h = 0;
  for (const k of counts.values()) h -= (k / n) * Math.log2(k / n);
  return h;
}

/**
 * Why a secret is too weak, or null. Real entropy cannot be measured from one value; these
 * rules refuse what is obviously not random and pass every 32 random bytes in hex, base64 or
 * base64url: at least 32 characters; at least 12 different characters; an estimate (length x
 * Shannon entropy per character) of at least 128 bits; and no repetition that lets it
 * compress below 32 bytes (`abcabc...`, `0123456789` three times), nor mostly runs of
 * consecutive characters (`abcdef...`). Never the development secret.
 */
export function secretWeakness(value: string): string | null {
  const length = [...value].length;
  if (value === DEVELOPMENT_SECRET || value.includes('DEVELOPMENT-ONLY')) return 'is the public development secret, printed in the source code';
  if (length < 32) return `is ${length} characters long; it must have at least 32`;
  const distinct = new Set(value).size;
  if (distinct < 12) return `uses only ${distinct} different characters; it must look random`;
  const estimate = Math.floor(length * bitsPerChar(value));
  if (estimate < 128) return `has about ${estimate} bits of entropy by its character counts; it needs at least 128 (32 random bytes)`;
  const codes = [...value].map((c) => c.codePointAt(0)!);
  const steps = codes.slice(1).filter((c, i) => Math.abs(c - codes[i]!) <= 1).length;
  if (steps > length / 2) return 'is mostly runs of consecutive or repeated characters (like abcdef...); it must be 32 random bytes';
  const packed = deflateRawSync(Buffer.from(value), { level: 9 }).length;
  if (packed < 32) return `repeats itself (it compresses to ${packed} bytes); it must be 32 random bytes`;
  return null;
}

function checked(env: NodeJS.ProcessEnv, variable: string): string | undefined {
  const value = env[variable];
  if (!value) return undefined;
  const weakness = secretWeakness(value);
  if (weakness) throw new ConfigError(`the token secret in ${variable} ${weakness}`, `Generate one with: ${GENERATE}`);
  return value;
}

/**
 * The token secret from the environment variable `variable` (tokens.secretEnv), and the one
 * it replaced: `<variable>_PREVIOUS` verifies links until `<variable>_PREVIOUS_UNTIL` (an ISO
 * date or date-time), so links in mail already sent keep working through a rotation. New links
 * are always signed with the current secret.
 */
export function resolveSecret(env: NodeJS.ProcessEnv, variable: string, use: SecretUse, now: Date = new Date()): SecretSource {
  const secret = checked(env, variable);
  const previousName = `${variable}_PREVIOUS`;
  const untilName = `${previousName}_UNTIL`;
  const previous = checked(env, previousName);
  if (!secret) {
    if (previous) throw new ConfigError(`${previousName} is set but ${variable} is not`, `After a rotation ${variable} holds the new secret and ${previousName} the old one.`);
    if (use === 'local') return { secret: DEVELOPMENT_SECRET, development: true };
    throw new ConfigError(
      `the environment variable ${variable} (tokens.secretEnv) is not set; it signs the unsubscribe and preference links${use === 'serve' ? ' and `serve` verifies them with it' : ''}`,
      `Set it to 32 random bytes, e.g. export ${variable}=$(${GENERATE})`,
    );
  }
  if (!previous) return { secret, development: false };
  if (previous === secret) throw new ConfigError(`${previousName} is the same as ${variable}`, `Rotate to a new secret: ${GENERATE}`);
  const untilText = env[untilName];
  const until = untilText ? new Date(untilText) : undefined;
  if (!until || Number.isNaN(until.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(untilText ?? '')) {
    throw new ConfigError(
      `${previousName} is set, so ${untilName} must say until when it verifies links (an ISO date such as 2026-12-31 or 2026-12-31T00:00:00Z), not ${untilText ? `"${untilText}"` : 'be missing'}`,
      `Use the longest link lifetime (tokens.linkTtlDays) after the last mail signed with the old secret; after that date remove ${previousName}.`,
    );
  }
  // Past the grace period the old secret verifies nothing (and can be removed).
  if (until.getTime() <= now.getTime()) return { secret, development: false };
  return { secret, development: false, previous: { secret: previous, until } };
}
