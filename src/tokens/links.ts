import { randomBytes } from 'node:crypto';
import { signToken, verifyToken, type TokenPurpose, type VerifyResult } from './tokens.js';

export interface LinkSettings {
  baseUrl: string;
  /** Signs every new link. */
  secret: string;
  /** The secret before a rotation: verifies links until `until`, signs none (see resolveSecret). */
  previous?: { secret: string; until: Date } | undefined;
  /** Lifetime of manage and unsubscribe links, in days. */
  ttlDays: number;
}

export interface RecipientLinks {
  manageUrl: string;
  unsubscribeUrl: string;
}

const PATHS = {
  manage: '/preferences',
  unsubscribe: '/unsubscribe',
  confirm: '/confirm',
} satisfies Partial<Record<TokenPurpose, string>>;

/** The expiry (seconds since the epoch) of a link signed at `now`: `ttlDays` later. */
export function linkExpiry(settings: Pick<LinkSettings, 'ttlDays'>, now: Date): number {
  return Math.floor(now.getTime() / 1000) + settings.ttlDays * 86_400;
}

/**
 * Verifies with the current secret, then (during a rotation's grace period only) with the
 * previous one. A signature that fails both is a forgery or a tampered link. `verify` checks one
 * token kind with one secret (v1 links, feedback tokens).
 */
export function verifyRotating<R extends { ok: true } | { ok: false; reason: string }>(
  settings: Pick<LinkSettings, 'secret' | 'previous'>,
  now: Date,
  verify: (secret: string, nowSeconds: number) => R,
): R {
  const seconds = Math.floor(now.getTime() / 1000);
  const result = verify(settings.secret, seconds);
  if (result.ok || result.reason !== 'bad-signature' || !settings.previous || now >= settings.previous.until) return result;
  return verify(settings.previous.secret, seconds);
}

export function signedUrl(settings: LinkSettings, email: string, purpose: keyof typeof PATHS, expires: number, generation?: string, linkGeneration?: number): string {
  const token = signToken(settings.secret, { email, purpose, expires, generation, linkGeneration });
  return `${settings.baseUrl}${PATHS[purpose]}?token=${token}`;
}

/**
 * The per-recipient links of one email; `now` is passed in so a run signs every link alike.
 * `linkGeneration` is the subscriber's stored token generation: raising it revokes these links.
 */
export function recipientLinks(settings: LinkSettings, email: string, now: Date, linkGeneration = 0): RecipientLinks {
  const expires = linkExpiry(settings, now);
  return {
    manageUrl: signedUrl(settings, email, 'manage', expires, undefined, linkGeneration),
    unsubscribeUrl: signedUrl(settings, email, 'unsubscribe', expires, undefined, linkGeneration),
  };
}

/**
 * The "view in browser" link of one email. An email that holds every paper of the day in digest
 * order (the all-topics variant) links the public issue page; any other is a reader's own
 * selection, behind a signed, expiring link revoked with the reader's other links (token
 * generation) that shows the papers their preferences pick from that day.
 */
export function webVersionUrl(settings: LinkSettings, date: string, personal: { email: string; now: Date; linkGeneration?: number | undefined } | null): string {
  const issue = `${settings.baseUrl}/archive/${date}`;
  if (!personal) return issue;
  const expires = linkExpiry(settings, personal.now);
  return `${issue}/yours?token=${signToken(settings.secret, { email: personal.email, purpose: 'view', expires, linkGeneration: personal.linkGeneration })}`;
}

/** Verifies a link's token (see verifyRotating for the secrets it tries). */
export function verifyLink(settings: Pick<LinkSettings, 'secret' | 'previous'>, token: string, purpose: TokenPurpose, now: Date): VerifyResult {
  return verifyRotating(settings, now, (secret, seconds) => verifyToken(secret, token, purpose, seconds));
}

/**
 * The same links signed with a throw-away key that nothing verifies: they look and measure like
 * real ones, but lead to "this link is not valid". Test mail and the preview use them, so a test
 * sent to anyone never carries a subscriber's working manage or unsubscribe link.
 */
export function inertLinks(settings: Omit<LinkSettings, 'secret'>): LinkSettings {
  return { baseUrl: settings.baseUrl, ttlDays: settings.ttlDays, secret: randomBytes(32).toString('base64url') };
}
