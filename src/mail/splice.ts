import { randomBytes } from 'node:crypto';
import MimeNode from 'nodemailer/lib/mime-node';
import { encode, wrap } from 'nodemailer/lib/qp';
import type { Fillable, PersonalFields } from '../render/personalise.js';
import { fill } from '../render/personalise.js';
import { BOUNDARY_PREFIX, crlf, customHeaders, headerSafe, mailbox, messageIdHeader, type ComposeInput } from './compose.js';

/**
 * Encode once, splice per recipient. A variant's text and HTML parts are quoted-printable
 * encoded once; only the lines that hold a per-recipient slot are encoded per recipient.
 * Quoted-printable soft breaks never cross a hard line break, so encoding line groups apart
 * gives the same bytes as encoding the whole body. Headers are built per recipient by
 * nodemailer's own MimeNode. The result is byte for byte what composeMessage (MailComposer)
 * builds for the same message and boundary (test/mail/splice.test.ts proves it).
 */

const LINE = 76;

/** A body part: pre-encoded runs of static lines and, between them, line groups with slots. */
export interface EncodedBody {
  chunks: (string | Fillable)[];
  /** Encoded bytes of the static chunks, for size checks. */
  staticBytes: number;
}

export interface EncodedVariant {
  /** nodemailer's baseBoundary: random per variant, so no reader can guess it in advance. */
  baseBoundary: string;
  boundary: string;
  text: EncodedBody;
  html: EncodedBody;
}

function qp(text: string): string {
  return wrap(encode(text), LINE);
}

const SLOT = '\u0000';

/** Splits a fillable body into encoded static line runs and line groups that hold slots. */
export function encodeBody(fillable: Fillable): EncodedBody {
  const joined = crlf(fillable.parts.map((p) => p.replaceAll(SLOT, '')).join(SLOT));
  const chunks: (string | Fillable)[] = [];
  let staticBytes = 0;
  let slotIndex = 0;
  let run = '';
  let group = '';
  const flushRun = () => {
    if (!run) return;
    const encoded = qp(run);
    staticBytes += encoded.length;
    chunks.push(encoded);
    run = '';
  };
  const flushGroup = () => {
    if (!group) return;
    const parts = group.split(SLOT);
    chunks.push({ parts, slots: fillable.slots.slice(slotIndex, slotIndex + parts.length - 1) });
    slotIndex += parts.length - 1;
    group = '';
  };
  let start = 0;
  while (start < joined.length) {
    const lineEnd = joined.indexOf('\r\n', start);
    const end = lineEnd === -1 ? joined.length : lineEnd + 2;
    const line = joined.slice(start, end);
    if (line.includes(SLOT)) {
      flushRun();
      group += line;
    } else {
      flushGroup();
      run += line;
    }
    start = end;
  }
  flushRun();
  flushGroup();
  return { chunks, staticBytes };
}

function encodedBody(body: EncodedBody, values: PersonalFields, html: boolean): string {
  let out = '';
  for (const chunk of body.chunks) out += typeof chunk === 'string' ? chunk : qp(crlf(fill(chunk, values, html)));
  return out;
}

export function encodeVariant(variant: { html: Fillable; text: Fillable }, baseBoundary = randomBytes(12).toString('hex')): EncodedVariant {
  return {
    baseBoundary,
    // As nodemailer names the root node's boundary (prefix, base, part number 1).
    boundary: `${BOUNDARY_PREFIX}-${baseBoundary}-Part_1`,
    text: encodeBody(variant.text),
    html: encodeBody(variant.html),
  };
}

type HeaderNode = MimeNode & { buildHeaders(): string };

/** The root header block, built by nodemailer exactly as MailComposer would for these fields. */
export function headerBlock(input: Omit<ComposeInput, 'text' | 'html'>, baseBoundary: string): string {
  const node = new MimeNode('multipart/alternative', { baseBoundary, boundaryPrefix: BOUNDARY_PREFIX } as MimeNode.Options) as HeaderNode;
  node.addHeader(customHeaders(input));
  node.setHeader('from', mailbox(input.from));
  node.setHeader('to', mailbox(input.to));
  if (input.replyTo) node.setHeader('reply-to', input.replyTo);
  node.setHeader('subject', headerSafe(input.subject));
  node.setHeader('message-id', messageIdHeader(input.messageId));
  node.setHeader('date', input.date);
  return node.buildHeaders();
}

const partHeaders = (type: string) => `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n`;
const TEXT_HEADERS = partHeaders('text/plain');
const HTML_HEADERS = partHeaders('text/html');

/** One recipient's message: headers built, personal fields encoded for their place, the rest copied. */
export function spliceMessage(variant: EncodedVariant, input: Omit<ComposeInput, 'text' | 'html'>, values: PersonalFields): Buffer {
  const b = variant.boundary;
  return Buffer.from(
    `${headerBlock(input, variant.baseBoundary)}\r\n\r\n--${b}\r\n${TEXT_HEADERS}${encodedBody(variant.text, values, false)}` +
      `\r\n--${b}\r\n${HTML_HEADERS}${encodedBody(variant.html, values, true)}\r\n--${b}--\r\n`,
    'utf8',
  );
}
