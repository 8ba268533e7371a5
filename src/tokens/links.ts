import { randomBytes } from 'node:crypto';
import { signToken, type TokenPurpose } from './tokens.js';

export interface LinkSettings {
  baseUrl: string;
  secret: string;
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

export function signedUrl(settings: LinkSettings, email: string, purpose: TokenPurpose, expires: number, generation?: string): string {
  const token = signToken(settings.secret, { email, purpose, expires, generation });
  return `${settings.baseUrl}${PATHS[purpose]}?token=${token}`;
}

/** The per-recipient links of one email; `now` is passed in so a run signs every link alike. */
export function recipientLinks(settings: LinkSettings, email: string, now: Date): RecipientLinks {
  const expires = Math.floor(now.getTime() / 1000) + settings.ttlDays * 86_400;
  return {
    manageUrl: signedUrl(settings, email, 'manage', expires),
    unsubscribeUrl: signedUrl(settings, email, 'unsubscribe', expires),
  };
}

/**
 * The same links signed with a throw-away key that nothing verifies: they look and measure like
 * real ones, but lead to "this link is not valid". Test mail and the preview use them, so a test
 * sent to anyone never carries a subscriber's working manage or unsubscribe link.
 */
export function inertLinks(settings: Omit<LinkSettings, 'secret'>): LinkSettings {
  return { baseUrl: settings.baseUrl, ttlDays: settings.ttlDays, secret: randomBytes(32).toString('base64url') };
}
