import type { Config } from '../config/load.js';
import { ConfigError } from '../errors.js';

/**
 * CAN-SPAM (and the EU's equivalents) want a valid postal address in every commercial email: a
 * send through a real transport refuses to start without `list.postalAddress`. The outbox (local
 * files) and a dry run do not need one.
 */
export function requirePostalAddress(config: Pick<Config, 'list' | 'file' | 'transport'>): void {
  if (config.transport.type === 'outbox' || config.list.postalAddress?.trim()) return;
  throw new ConfigError(
    `list.postalAddress is not set in ${config.file}: every digest sent through the ${config.transport.type} transport must show the sender's postal address (CAN-SPAM)`,
    'Add "postalAddress": "Street 1, 12345 City, Country" under "list" in the config file; it is printed in every email footer.',
  );
}

/**
 * The Feedback-ID header (Gmail's feedback loop, also read by SES and other large receivers):
 * `<campaign>:<mail type>:<sender id>`. Complaints are reported per campaign (the issue date,
 * or `confirm`), per mail type (`digest`, `transactional`), for this list (its List-Id). Never
 * per recipient: Gmail aggregates by these values.
 */
export function feedbackId(campaign: string, type: 'digest' | 'transactional', listId: string): string {
  const field = (s: string) => s.replace(/[^\w.-]+/g, '-');
  return `${field(campaign)}:${type}:${field(listId)}`;
}
