import { randomBytes } from 'node:crypto';
import { UserError } from '../../errors.js';
import { Dispatcher, RateLimiter, systemClock } from '../../mail/flow.js';
import { createTransport } from '../../mail/transports/index.js';
import { composeMessage } from '../../mail/compose.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { linkSettings, loadConfigFrom } from '../shared.js';
import { prepareEmail } from './render.js';
import { fill } from '../../render/personalise.js';
import { greetingFor } from '../../run/deliver.js';
import { recipientLinks } from '../../tokens/links.js';
import { addressKey } from '../../audience/schema.js';
import { z } from 'zod';

export interface SendTestFlags {
  to: string;
  section?: string;
  subscriber?: string;
  topics?: string;
}

/**
 * Sends one real message through the configured transport, "[TEST]" in the subject and a
 * Message-ID of its own, so it is never mistaken for (or deduplicated with) the real mail.
 * The ledger is not touched.
 */
export async function sendTestCommand(globals: GlobalOptions, flags: SendTestFlags): Promise<number> {
  if (!z.email().safeParse(flags.to).success) throw new UserError(`--to ${flags.to} is not an email address`);
  const config = await loadConfigFrom(globals);
  const prepared = await prepareEmail(config, flags);
  if (!prepared) return EXIT.ok;
  const { section, subscriber, rendered } = prepared;
  const links = linkSettings(config, config.transport.type !== 'outbox');
  const personal = { greeting: greetingFor(subscriber), email: subscriber.email, ...recipientLinks(links, addressKey(subscriber.email), new Date()) };
  const messageId = `<test-${randomBytes(8).toString('hex')}@${config.list.id}>`;
  const raw = await composeMessage({
    from: config.list.from,
    replyTo: config.list.replyTo,
    to: { address: flags.to },
    subject: `[TEST] ${rendered.subject}`,
    text: fill(rendered.text, personal, false),
    html: fill(rendered.html, personal, true),
    messageId,
    date: new Date(),
    list: { name: config.list.name, id: config.list.id, unsubscribeUrl: personal.unsubscribeUrl, unsubscribeMailto: config.list.unsubscribeMailto },
  });
  const transport = createTransport(config);
  try {
    const dispatcher = new Dispatcher(transport, new RateLimiter(config.delivery.ratePerSecond, systemClock), {
      maxAttempts: config.delivery.maxAttempts,
      baseDelayMs: config.delivery.retryBaseDelayMs,
      maxDelayMs: config.delivery.maxRetryDelayMs,
    });
    const { result, attempts } = await dispatcher.send({
      sectionDate: `test-${section.date}`,
      recipient: flags.to,
      messageId,
      raw,
      html: fill(rendered.html, personal, true),
      envelope: { from: config.list.from.address, to: flags.to },
    });
    if (!result.ok) {
      console.error(`send-test: not delivered after ${attempts} attempt(s) (${result.kind}): ${result.reason}`);
      return EXIT.error;
    }
    console.log(`send-test: sent "[TEST] ${rendered.subject}" for ${section.date} (as ${subscriber.email}) to ${flags.to} via ${transport.name}, Message-ID ${messageId}`);
    return EXIT.ok;
  } finally {
    await transport.close();
  }
}
