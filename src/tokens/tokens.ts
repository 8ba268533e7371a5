import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a token lets its holder do; a token for one purpose is refused for another. */
/**
 * `view`: the web version of a reader's own email (read only). `feedback`: the "more / less like
 * this" links of an email, which open a confirmation page for that reader (src/web/feedback.ts).
 */
export type TokenPurpose = 'manage' | 'unsubscribe' | 'confirm' | 'view' | 'feedback';

export interface TokenClaims {
  email: string;
  purpose: TokenPurpose;
  /** Expiry, seconds since the epoch. */
  expires: number;
  /**
   * What the subscriber record looked like when the link was made (see confirmGeneration): a
   * confirmation link works only while the record is still in that state, so it is single use.
   */
  generation?: string | undefined;
  /**
   * Manage and unsubscribe links: the subscriber's token generation when the link was made. The
   * store raises it to revoke every older link (`subscribers revoke-links`); absent means 0.
   */
  linkGeneration?: number | undefined;
}

const VERSION = 'v1';

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(`${VERSION}.${payload}`).digest('base64url');
}

/** `v1.<base64url JSON claims>.<base64url HMAC-SHA256>`: URL-safe, tamper-evident, expiring. */
export function signToken(secret: string, claims: TokenClaims): string {
  const payload = Buffer.from(JSON.stringify({ e: claims.email, p: claims.purpose, x: claims.expires, ...(claims.generation !== undefined ? { g: claims.generation } : {}), ...(claims.linkGeneration ? { n: claims.linkGeneration } : {}) })).toString('base64url');
  return `${VERSION}.${payload}.${sign(secret, payload)}`;
}

export type VerifyResult =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'wrong-purpose' | 'expired' };

export function verifyToken(secret: string, token: string, purpose: TokenPurpose, nowSeconds: number): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION || !parts[1] || !parts[2]) return { ok: false, reason: 'malformed' };
  const expected = Buffer.from(sign(secret, parts[1]));
  const given = Buffer.from(parts[2]);
  // Constant-time comparison: no timing hint about how much of a forged signature was right.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'bad-signature' };
  let raw: { e?: unknown; p?: unknown; x?: unknown; g?: unknown; n?: unknown };
  try {
    raw = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof raw.e !== 'string' || typeof raw.p !== 'string' || typeof raw.x !== 'number' || (raw.g !== undefined && typeof raw.g !== 'string') || (raw.n !== undefined && !Number.isSafeInteger(raw.n))) return { ok: false, reason: 'malformed' };
  if (raw.p !== purpose) return { ok: false, reason: 'wrong-purpose' };
  if (raw.x < nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { email: raw.e, purpose: raw.p, expires: raw.x, ...(raw.g !== undefined ? { generation: raw.g } : {}), ...(raw.n !== undefined ? { linkGeneration: raw.n as number } : {}) } };
}
