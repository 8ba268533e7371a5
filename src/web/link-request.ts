import { createHmac } from 'node:crypto';
import { addressKey } from '../audience/schema.js';
import type { Store } from '../store/store.js';
import type { ConfirmationMailer } from './confirmation.js';
import { HourlyLimit } from './subscribe.js';

/** What a link request did, for tests and logs only: never shown to the requester. */
export type LinkRequestOutcome = 'sent' | 'not-active' | 'address-limit' | 'failed';

/**
 * "Send me my link": emails a fresh preferences link to an address that is subscribed (active).
 * The requester always gets the same answer; everything that depends on the address happens in
 * `notify`, after that answer has gone out. Pending, unsubscribed, bounced, suppressed and
 * unknown addresses are sent nothing (the answer page tells how to subscribe again).
 *
 * A new link raises the subscriber's token generation with `'keep-unsubscribe'`: the manage and
 * web-version links of every older email stop working (a leaked or forwarded email no longer
 * opens the preference centre), while their unsubscribe links, one-click included (RFC 8058),
 * keep working: anyone can ask for a link for any address, and that must never disable a
 * reader's way out.
 */
export class LinkRequestFlow {
  private readonly perIp: HourlyLimit;
  private readonly perAddress: HourlyLimit;

  constructor(
    private readonly deps: {
      store: Store;
      mailer: ConfirmationMailer;
      now: () => Date;
      /** Keys the per-IP counters (an HMAC of the address, so the store holds no client IPs). */
      secret: string;
      perIpPerHour: number;
      perAddressPerHour: number;
    },
  ) {
    this.perIp = new HourlyLimit(deps.store, 'link-requests-ip', deps.perIpPerHour, deps.now);
    this.perAddress = new HourlyLimit(deps.store, 'link-emails', deps.perAddressPerHour, deps.now);
  }

  /**
   * Counts a request from `ip` (one write, whatever the address) and says whether it is within
   * the per-IP limit. A store that cannot count refuses: the requester can try again.
   */
  async admit(ip: string): Promise<boolean> {
    const key = createHmac('sha256', this.deps.secret).update(`link-request-ip\n${ip}`).digest('base64url').slice(0, 22);
    return this.perIp.hit(key).catch(() => false);
  }

  /** Sends the link if the address is active and within its limit; never throws. */
  async notify(email: string): Promise<LinkRequestOutcome> {
    const { store, mailer } = this.deps;
    try {
      const current = await store.getSubscriber(email);
      if (current?.status !== 'active') return 'not-active';
      if (!(await this.perAddress.allow(addressKey(email)))) return 'address-limit';
      const renewed = await store.mutateSubscriber(email, (s) =>
        s?.status === 'active'
          ? { result: { ...s, tokenGeneration: s.tokenGeneration + 1 }, revokeLinks: 'keep-unsubscribe' as const, event: { event: 'link-sent' as const, by: 'web' } }
          : { result: undefined },
      );
      if (!renewed) return 'not-active';
      mailer.sendLink(renewed);
      return 'sent';
    } catch {
      return 'failed';
    }
  }
}
