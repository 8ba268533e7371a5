import { randomBytes } from 'node:crypto';
import { isEmailAddress } from '../audience/address.js';
import { addressKey } from '../audience/schema.js';
import type { Config } from '../config/load.js';
import { UserError } from '../errors.js';
import { composeMessage } from '../mail/compose.js';
import { dispatcherFor } from '../mail/flow.js';
import { createTransport } from '../mail/transports/index.js';
import { fill, personalFields } from '../render/personalise.js';
import { inertLinks, recipientLinks, webVersionUrl, type LinkSettings } from '../tokens/links.js';
import { feedbackUrl } from '../tokens/feedback.js';
import type { Inputs } from './context.js';
import { greetingFor, isWholeIssue } from './deliver.js';
import { prepareEmail, type Audience } from './prepare.js';

export interface SendTestResult {
  ok: boolean;
  message: string;
}

/**
 * Sends one real message through the configured transport, "[TEST]" in the subject and a
 * Message-ID of its own, so it is never mistaken for (or deduplicated with) the real mail.
 * The ledger is not touched. Used by `send-test` and by the preview's button.
 * Its manage and unsubscribe links are inert (signed with a throw-away key): a test goes to
 * whatever address was typed, and must not hand that address the subscriber's working links.
 */
export async function sendTestEmail(config: Config, to: string, audience: Audience, links: Omit<LinkSettings, 'secret'>, inputs?: Inputs): Promise<SendTestResult> {
  if (!isEmailAddress(to)) throw new UserError(`${to} is not an email address`);
  const prepared = await prepareEmail(config, audience, inputs);
  if (!prepared) return { ok: false, message: 'No paper of that section matches these preferences, so there is no email to send.' };
  const { section, subscriber, rendered } = prepared;
  const inert = inertLinks(links);
  const personal = personalFields(rendered, {
    greeting: greetingFor(subscriber),
    email: subscriber.email,
    ...recipientLinks(inert, addressKey(subscriber.email), new Date()),
    webUrl: webVersionUrl(inert, section.date, isWholeIssue(rendered, section) ? null : { email: addressKey(subscriber.email), now: new Date() }),
    feedbackUrl: feedbackUrl(inert, {}, new Date()),
  });
  const messageId = `<test-${randomBytes(8).toString('hex')}@${config.list.id}>`;
  const html = fill(rendered.html, personal, true);
  const raw = await composeMessage({
    from: config.list.from,
    replyTo: config.list.replyTo,
    to: { address: to },
    subject: `[TEST] ${rendered.subject}`,
    text: fill(rendered.text, personal, false),
    html,
    messageId,
    date: new Date(),
    list: { name: config.list.name, id: config.list.id, unsubscribeUrl: personal.unsubscribeUrl, unsubscribeMailto: config.list.unsubscribeMailto },
  });
  const transport = createTransport(config);
  try {
    const dispatcher = dispatcherFor(transport, config.delivery);
    const { result, attempts } = await dispatcher.send({
      sectionDate: `test-${section.date}`,
      recipient: to,
      messageId,
      raw,
      html,
      envelope: { from: config.list.from.address, to },
    });
    if (!result.ok) return { ok: false, message: `not delivered after ${attempts} attempt(s) (${result.kind}): ${result.reason}` };
    return { ok: true, message: `sent "[TEST] ${rendered.subject}" for ${section.date} (as ${subscriber.email}) to ${to} via ${transport.name}, Message-ID ${messageId}` };
  } finally {
    await transport.close();
  }
}
