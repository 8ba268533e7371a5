import { createHmac, timingSafeEqual } from 'node:crypto';
import { linkExpiry, verifyRotating, type LinkSettings } from './links.js';

/**
 * The token of an email's "more / less like this" links (purpose `feedback`). Every paper of an
 * email carries two such links, so the token is repeated 2 x N times in each part: it is compact
 * (about 40 characters instead of the 150 of a v1 token with the address in it) so an 18-paper
 * email stays under Gmail's clipping size. It names the subscriber by their store id, their token
 * generation (raising it revokes the token with every other link) and an expiry (like manage
 * links: tokens.linkTtlDays); a 128-bit HMAC-SHA256 tag, domain-separated from v1 tokens
 * (`feedback.` prefix), covers all three. The paper, section and direction are URL parameters
 * outside the token (README "More / less like this").
 *
 * `<id>.<generation>.<expires>.<tag>`: numbers in base 36, the tag 22 base64url characters.
 */
export interface FeedbackClaims {
  subscriberId: number;
  linkGeneration: number;
  /** Seconds since the epoch. */
  expires: number;
}

const TAG_CHARS = 22;
const PART = /^[0-9a-z]{1,13}$/;

function tag(secret: string, body: string): string {
  return createHmac('sha256', secret).update(`feedback.${body}`).digest('base64url').slice(0, TAG_CHARS);
}

export function signFeedbackToken(secret: string, claims: FeedbackClaims): string {
  const body = [claims.subscriberId, claims.linkGeneration, claims.expires].map((n) => n.toString(36)).join('.');
  return `${body}.${tag(secret, body)}`;
}

export type FeedbackVerifyResult = { ok: true; claims: FeedbackClaims } | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' };

function verifyWith(secret: string, token: string, nowSeconds: number): FeedbackVerifyResult {
  const parts = token.split('.');
  if (parts.length !== 4 || !parts.slice(0, 3).every((p) => PART.test(p)) || !/^[\w-]{22}$/.test(parts[3]!)) return { ok: false, reason: 'malformed' };
  const body = parts.slice(0, 3).join('.');
  const expected = Buffer.from(tag(secret, body));
  const given = Buffer.from(parts[3]!);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad-signature' };
  const [subscriberId, linkGeneration, expires] = parts.slice(0, 3).map((p) => parseInt(p, 36)) as [number, number, number];
  if (![subscriberId, linkGeneration, expires].every(Number.isSafeInteger)) return { ok: false, reason: 'malformed' };
  if (expires < nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { subscriberId, linkGeneration, expires } };
}

/** Verifies with the current secret, then (during a rotation's grace period only) the previous one. */
export function verifyFeedbackToken(settings: Pick<LinkSettings, 'secret' | 'previous'>, token: string, now: Date): FeedbackVerifyResult {
  return verifyRotating(settings, now, (secret, seconds) => verifyWith(secret, token, seconds));
}

/**
 * The signed base of every "more / less like this" link of one email (`…/feedback?token=…`);
 * each paper's link adds `&date=…&paper=…&want=more|less` (render/view.ts feedbackQueries).
 */
export function feedbackUrl(settings: LinkSettings, subscriber: { id?: number | undefined; tokenGeneration?: number | undefined }, now: Date): string {
  const expires = linkExpiry(settings, now);
  return `${settings.baseUrl}/feedback?token=${signFeedbackToken(settings.secret, { subscriberId: subscriber.id ?? 0, linkGeneration: subscriber.tokenGeneration ?? 0, expires })}`;
}
