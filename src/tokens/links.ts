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

const PATHS: Record<TokenPurpose, string> = {
  manage: '/preferences',
  unsubscribe: '/unsubscribe',
  confirm: '/confirm',
};

export function signedUrl(settings: LinkSettings, email: string, purpose: TokenPurpose, expires: number, generation?: string, linkGeneration?: number): string {
  const token = signToken(settings.secret, { email, purpose, expires, generation, linkGeneration });
  return `${settings.baseUrl}${PATHS[purpose]}?token=${token}`;
}

/**
 * The per-recipient links of one email; `now` is passed in so a run signs every link alike.
 * `linkGeneration` is the subscriber's stored token generation: raising it revokes these links.
 */
export function recipientLinks(settings: LinkSettings, email: string, now: Date, linkGeneration = 0): RecipientLinks {
  const expires = Math.floor(now.getTime() / 1000) + settings.ttlDays * 86_400;
  return {
    manageUrl: signedUrl(settings, email, 'manage', expires, undefined, linkGeneration),
    unsubscribeUrl: signedUrl(settings, email, 'unsubscribe', expires, undefined, linkGeneration),
  };
}

/**
 * Verifies a link's token with the current secret, then (during a rotation's grace period
 * only) with the previous one. A signature that fails both is a forgery or a tampered link.
 */
export function verifyLink(settings: Pick<LinkSettings, 'secret' | 'previous'>, token: string, purpose: TokenPurpose, now: Date): VerifyResult {
  const seconds = Math.floor(now.getTime() / 1000);
  const result = verifyToken(settings.secret, token, purpose, seconds);
  if (result.ok || result.reason !== 'bad-signature' || !settings.previous || now >= settings.previous.until) return result;
  return verifyToken(settings.previous.secret, token, purpose, seconds);
}

/**
 * The same links signed with a throw-away key that nothing verifies: they look and measure like
 * real ones, but lead to "this link is not valid". Test mail and the preview use them, so a test
 * sent to anyone never carries a subscriber's working manage or unsubscribe link.
 */
export function inertLinks(settings: Omit<LinkSettings, 'secret'>): LinkSettings {
  return { baseUrl: settings.baseUrl, ttlDays: settings.ttlDays, secret: randomBytes(32).toString('base64url') };
}
