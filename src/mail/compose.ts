import MailComposer from 'nodemailer/lib/mail-composer';

export interface Mailbox {
  name?: string | undefined;
  address: string;
}

export interface ComposeInput {
  from: Mailbox;
  replyTo?: string | undefined;
  to: Mailbox;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  date: Date;
  /** List headers; left out for transactional mail such as the confirmation email. */
  list?: {
    /** List-Id value, e.g. `Multimodal LLM Digest <mllm-digest.example.org>`. */
    name: string;
    id: string;
    unsubscribeUrl: string;
    unsubscribeMailto: string;
  };
  /** The Feedback-ID header's value (src/mail/compliance.ts feedbackId). */
  feedbackId?: string | undefined;
  /** Extra headers (e.g. X-SES-CONFIGURATION-SET); values are single-lined. */
  headers?: Record<string, string> | undefined;
}

/** Header values are one line whatever the data holds: CR, LF and other controls become spaces. */
export function headerSafe(value: string): string {
  return value.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').replace(/\s{2,}/g, ' ').trim();
}

export function mailbox(box: Mailbox): { name: string; address: string } | string {
  return box.name ? { name: headerSafe(box.name), address: box.address } : box.address;
}

/** RFC 5322 line breaks only: a bare LF or CR in a body would reach the outbox and SES as is. */
export function crlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/**
 * The Message-ID as a prepared header: written as is, on one line. nodemailer would fold a long
 * one onto a continuation line, which naive bounce and reply matching does not unfold.
 */
export function messageIdHeader(messageId: string): { prepared: true; value: string } {
  return { prepared: true, value: headerSafe(messageId) };
}

/** Boundaries start with "=_": that sequence never occurs in quoted-printable text (RFC 2045 5.1). */
export const BOUNDARY_PREFIX = '=_dm';

/** The custom header fields of a message, in the order nodemailer writes them (before From). */
export function customHeaders(input: Pick<ComposeInput, 'list' | 'headers' | 'feedbackId'>): Record<string, string> {
  const list: Record<string, string> = input.list
    ? {
        'List-Id': `${headerSafe(input.list.name)} <${input.list.id}>`,
        'List-Unsubscribe': `<${input.list.unsubscribeUrl}>, <mailto:${input.list.unsubscribeMailto}?subject=unsubscribe>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      }
    : {};
  const feedback: Record<string, string> = input.feedbackId ? { 'Feedback-ID': headerSafe(input.feedbackId) } : {};
  const extra = Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k, headerSafe(v)]));
  return { ...list, ...feedback, ...extra };
}

/**
 * Builds the RFC 5322 message with nodemailer's composer: multipart/alternative (text, then
 * HTML), the list headers of RFC 2369/2919 and RFC 8058 one-click unsubscribe. Both parts are
 * quoted-printable with CRLF line breaks. A run splices variants instead (splice.ts); this full
 * composition is the reference the splice is tested against, and builds one-off mail.
 */
export async function composeMessage(input: ComposeInput, baseBoundary?: string): Promise<Buffer> {
  // Chosen, not detected: nodemailer's detection scans each body and costs more than the
  // encoding itself (measured 2.4x slower per message); QP keeps the HTML readable and small.
  const qp = (content: string) => ({ content: crlf(content), contentTransferEncoding: 'quoted-printable' });
  const composer = new MailComposer({
    from: mailbox(input.from),
    to: mailbox(input.to),
    ...(input.replyTo ? { replyTo: input.replyTo } : {}),
    subject: headerSafe(input.subject),
    text: qp(input.text),
    html: qp(input.html),
    // Typed as a string by nodemailer, but a prepared header value is what keeps it unfolded.
    messageId: messageIdHeader(input.messageId) as unknown as string,
    date: input.date,
    headers: customHeaders(input),
    boundaryPrefix: BOUNDARY_PREFIX,
    ...(baseBoundary ? { baseBoundary } : {}),
  });
  return composer.compile().build();
}
