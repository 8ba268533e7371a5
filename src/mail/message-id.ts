import { createHash } from 'node:crypto';
import { addressKey } from '../audience/schema.js';

/**
 * The same (section, subscriber) always gets the same Message-ID, so a message resent after a
 * crash is recognisable as the same mail (and deduplicated by many clients). The address is
 * hashed, not shown.
 */
export function messageIdFor(sectionDate: string, email: string, domain: string): string {
  const digest = createHash('sha256').update(`${sectionDate}\n${addressKey(email)}`).digest('hex').slice(0, 24);
  return `<digest-${sectionDate}.${digest}@${domain}>`;
}
