import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { foldLines } from 'nodemailer/lib/mime-funcs';
import MimeNode from 'nodemailer/lib/mime-node';
import { encode } from 'nodemailer/lib/qp';
import type { Fillable, PersonalFields, ScalarField, Slot } from '../render/personalise.js';
import { fill, fillSome, slotValue } from '../render/personalise.js';
import { wrapQp } from './qp-wrap.js';
import { BOUNDARY_PREFIX, crlf, customHeaders, headerSafe, mailbox, messageIdHeader, type ComposeInput } from './compose.js';

/**
 * Encode once, splice per recipient. A variant's text and HTML parts are quoted-printable
 * encoded once, into bytes; only the lines that hold a per-recipient slot are encoded per
 * recipient. Quoted-printable soft breaks never cross a hard line break, so encoding line groups
 * apart gives the same bytes as encoding the whole body. The lines that hold only a reader
 * copy's fields (summary, preheader, reason lines) are encoded once per copy (encodeCopy), so a
 * recipient costs the encoding of a few lines (greeting, address, links) and one copy of the
 * bytes. Headers are written line by line with nodemailer's own encoders (HeaderWriter). The
 * result is byte for byte what composeMessage (MailComposer) builds for the same message and
 * boundary (test/mail/splice.test.ts proves it).
 */

const LINE = 76;

/** A body part: pre-encoded runs of static lines (bytes) and, between them, line groups with slots. */
export interface EncodedBody {
  chunks: (Buffer | Fillable)[];
  /** Encoded bytes of the static chunks, for size checks. */
  staticBytes: number;
}

export interface EncodedVariant {
  /** nodemailer's baseBoundary: random per variant, so no reader can guess it in advance. */
  baseBoundary: string;
  boundary: string;
  /** The root's Content-Type header line, as nodemailer writes it for this boundary. */
  contentType: string;
  text: EncodedBody;
  html: EncodedBody;
}

function qp(text: string): string {
  return wrapQp(encode(text), LINE);
}

/**
 * Encoded lines seen so far: variants share most of their lines (the layout, the same paper in
 * another set), and a line encodes the same wherever it stands (soft breaks never cross a hard one).
 */
const encodedLines = new Map<string, string>();
/** Characters held by encodedLines; past the cap it starts again empty (cheaper than an LRU on this path). */
let encodedChars = 0;
const ENCODED_CHARS_KEPT = 2 * 1024 * 1024;

/**
 * A copy of `text` that holds only its own characters. A line cut from a body is a view into the
 * whole body in V8 (a sliced string), so keeping the line as a key kept the body alive: at 10,000
 * recipients about 1,000 bodies (16 MB) were held through 2 M characters of keys.
 */
function detached(text: string): string {
  return Buffer.from(text, 'utf16le').toString('utf16le');
}

function qpLine(line: string): string {
  let encoded = encodedLines.get(line);
  if (encoded === undefined) {
    encoded = qp(line);
    encodedChars += line.length + encoded.length;
    if (encodedChars > ENCODED_CHARS_KEPT) {
      encodedLines.clear();
      encodedChars = line.length + encoded.length;
    }
    encodedLines.set(detached(line), encoded);
  }
  return encoded;
}

const SLOT = '\u0000';

/** Splits a fillable body into encoded static line runs and line groups that hold slots. */
export function encodeBody(fillable: Fillable): EncodedBody {
  const joined = crlf(fillable.parts.map((p) => p.replaceAll(SLOT, '')).join(SLOT));
  const chunks: (Buffer | Fillable)[] = [];
  let staticBytes = 0;
  let slotIndex = 0;
  /** Encoded static lines waiting to become one chunk. */
  let run = '';
  let group = '';
  const flushRun = () => {
    if (!run) return;
    const encoded = Buffer.from(run, 'latin1');
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
      run += qpLine(line);
    }
    start = end;
  }
  flushRun();
  flushGroup();
  return { chunks, staticBytes };
}

/** The root's Content-Type line for this boundary, written by nodemailer itself. */
function contentTypeLine(baseBoundary: string): string {
  const node = new MimeNode('multipart/alternative', { baseBoundary, boundaryPrefix: BOUNDARY_PREFIX } as MimeNode.Options) as HeaderNode;
  const headers = node.buildHeaders();
  return headers.slice(headers.indexOf('\r\nContent-Type:') + 2);
}

export function encodeVariant(variant: { html: Fillable; text: Fillable }, baseBoundary = randomBytes(12).toString('hex')): EncodedVariant {
  return {
    baseBoundary,
    // As nodemailer names the root node's boundary (prefix, base, part number 1).
    boundary: `${BOUNDARY_PREFIX}-${baseBoundary}-Part_1`,
    contentType: contentTypeLine(baseBoundary),
    text: encodeBody(variant.text),
    html: encodeBody(variant.html),
  };
}

/** The fields of a reader copy: the same for every recipient of one selection. */
const COPY_FIELDS: ReadonlySet<Slot['field']> = new Set<Slot['field']>(['summary', 'preheader', 'reason'] satisfies (ScalarField | 'reason')[]);
const isCopySlot = (slot: Slot) => COPY_FIELDS.has(slot.field);

function encodeBodyForCopy(body: EncodedBody, copy: Pick<PersonalFields, 'summary' | 'preheader' | 'reasons'>, html: boolean): EncodedBody {
  const values = { ...copy, greeting: '', email: '', manageUrl: '', unsubscribeUrl: '', webUrl: '', feedbackUrl: '' };
  let staticBytes = body.staticBytes;
  const chunks = body.chunks.map((chunk) => {
    if (Buffer.isBuffer(chunk)) return chunk;
    if (chunk.slots.every(isCopySlot)) {
      const encoded = Buffer.from(qp(crlf(fill(chunk, values, html))), 'latin1');
      staticBytes += encoded.length;
      return encoded;
    }
    // The copy's values go into the parts CRLF-only, as encodeBody left them (see valuesHaveBreaks).
    const some = fillSome(chunk, values, html, isCopySlot);
    return { parts: some.parts.map(crlf), slots: some.slots };
  });
  return { chunks, staticBytes };
}

/**
 * A variant with one reader copy's fields encoded in: what is left per recipient are the lines
 * holding their greeting, address and links. The variant's bytes are shared, not copied.
 */
export function encodeCopy(variant: EncodedVariant, copy: Pick<PersonalFields, 'summary' | 'preheader' | 'reasons'>): EncodedVariant {
  return { ...variant, text: encodeBodyForCopy(variant.text, copy, false), html: encodeBodyForCopy(variant.html, copy, true) };
}

type HeaderNode = MimeNode & { buildHeaders(): string; encodeHeaderValue(key: string, value: unknown): string; _normalizeHeaderKey(key: string): string };

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

/**
 * The same header block as headerBlock, without building a MIME tree per message: each line is
 * nodemailer's encoding of that one field (MimeNode#encodeHeaderValue, then its 76-column fold),
 * in the order MimeNode writes them; lines that repeat across recipients (From, List-ID, a
 * copy's Subject, the Date of this second) are kept. test/mail/splice.test.ts compares the two.
 */
export class HeaderWriter {
  private readonly node = new MimeNode('text/plain') as HeaderNode;
  private readonly repeated = new LRUCache<string, string>({ max: 2048 });

  private line(key: string, value: unknown): string {
    const name = this.node._normalizeHeaderKey(key);
    const encoded = this.node.encodeHeaderValue(name, value);
    // nodemailer leaves out a field whose value encodes to nothing.
    return (encoded || '').toString().trim() ? foldLines(`${name}: ${encoded}`, LINE) : '';
  }

  /** A line for a value many recipients share, kept by `memo` (the value as text). */
  private repeatedLine(key: string, memo: string, value: unknown = memo): string {
    const id = `${key}\u0000${memo}`;
    let line = this.repeated.get(id);
    if (line === undefined) this.repeated.set(id, (line = this.line(key, value)));
    return line;
  }

  block(input: Omit<ComposeInput, 'text' | 'html'>, contentType: string): string {
    const lines: string[] = [];
    for (const [key, value] of Object.entries(customHeaders(input))) lines.push(key === 'List-Unsubscribe' ? this.line(key, value) : this.repeatedLine(key, value));
    const from = mailbox(input.from);
    lines.push(this.repeatedLine('From', typeof from === 'string' ? from : `${from.name}\u0000${from.address}`, from));
    lines.push(this.line('To', mailbox(input.to)));
    if (input.replyTo) lines.push(this.repeatedLine('Reply-To', input.replyTo));
    lines.push(this.repeatedLine('Subject', headerSafe(input.subject)));
    // A prepared value: written as is, never folded (see messageIdHeader).
    const messageId = messageIdHeader(input.messageId).value;
    if (messageId.trim()) lines.push(`Message-ID: ${messageId}`);
    lines.push(this.repeatedLine('Date', String(Math.floor(input.date.getTime() / 1000)), input.date));
    lines.push('MIME-Version: 1.0', contentType);
    return lines.filter(Boolean).join('\r\n');
  }
}

const isReasonSlot = (slot: Slot) => slot.field === 'reason';

/** Whether a value may hold a line break that crlf() would rewrite. */
const hasBreak = (value: string | null | undefined) => value != null && (value.includes('\n') || value.includes('\r'));

/**
 * Whether any recipient field holds a CR or LF. The parts of a line group are CRLF-only already
 * (encodeBody normalised the whole body), so without one (and without a reason slot, whose
 * element brings its own breaks) crlf() of a filled group changes nothing.
 */
function valuesHaveBreaks(values: PersonalFields): boolean {
  return (
    hasBreak(values.greeting) || hasBreak(values.email) || hasBreak(values.manageUrl) || hasBreak(values.unsubscribeUrl) ||
    hasBreak(values.webUrl) || hasBreak(values.feedbackUrl) || hasBreak(values.summary) || hasBreak(values.preheader) || values.reasons.some(hasBreak)
  );
}

/** Whether a piece's encoding depends on what follows it: a trailing blank, or half a surrogate pair. */
function openEnded(text: string): boolean {
  const last = text.charCodeAt(text.length - 1);
  return last === 0x20 || last === 0x09 || (last >= 0xd800 && last <= 0xdbff);
}

/**
 * Quoted-printable of the concatenation of `pieces`, from each piece's own encoding (`encoded`
 * gives it, so a caller can keep the encodings of pieces that repeat). Encoding is character by
 * character (of UTF-8) except for a blank before a line break or at the end, which is encoded:
 * so joining encodings is exact unless a piece other than the last ends in a blank or half a
 * surrogate pair (its encoding would depend on the next piece), and then the whole is encoded.
 * Soft breaks are added over the joined encoding, as qp() does.
 */
export function qpJoined(pieces: readonly string[], encoded: (piece: string, index: number) => string): string {
  for (let i = 0; i < pieces.length - 1; i++) if (openEnded(pieces[i]!)) return qp(pieces.join(''));
  let joined = '';
  for (let i = 0; i < pieces.length; i++) joined += encoded(pieces[i]!, i);
  return wrapQp(joined, LINE);
}

/** Printable ASCII but the space: written as is by quoted-printable, save "=" (as =3D). */
const PLAIN_ASCII = /^[\x21-\x7e]*$/;

/** encode() of a value, without its buffers for the usual one: a link or an address. */
function encodeValue(value: string): string {
  return PLAIN_ASCII.test(value) ? value.replaceAll('=', '=3D') : encode(value);
}

/** A line group's static parts, encoded once (parts repeat for every recipient of the variant). */
const encodedParts = new WeakMap<Fillable, string[]>();

function partsEncoded(chunk: Fillable): string[] {
  let parts = encodedParts.get(chunk);
  if (!parts) encodedParts.set(chunk, (parts = chunk.parts.map((part) => encode(part))));
  return parts;
}

/**
 * One recipient's line group: their values between the group's static parts, encoded. A value
 * (a link repeated in every paper's feedback links) is encoded once per body (`valueCodes`).
 */
function qpGroup(chunk: Fillable, personal: PersonalFields, html: boolean, valueCodes: Map<string, string>): string {
  const parts = partsEncoded(chunk);
  const pieces: string[] = [chunk.parts[0]!];
  for (let i = 0; i < chunk.slots.length; i++) pieces.push(slotValue(chunk.slots[i]!, personal, html), chunk.parts[i + 1]!);
  return qpJoined(pieces, (piece, index) => {
    // Even places hold the static parts, odd ones the values.
    if (index % 2 === 0) return parts[index / 2]!;
    let code = valueCodes.get(piece);
    if (code === undefined) valueCodes.set(piece, (code = encodeValue(piece)));
    return code;
  });
}

function encodedBodyChunks(body: EncodedBody, values: PersonalFields, html: boolean, out: (Buffer | string)[], normalise: boolean): void {
  const valueCodes = new Map<string, string>();
  for (const chunk of body.chunks) {
    if (Buffer.isBuffer(chunk)) out.push(chunk);
    // A reason slot brings the line breaks of its element (bare LF, as rendered) with it; a
    // value with a line break has it rewritten to CRLF over the whole group: encoded whole.
    else if (normalise || chunk.slots.some(isReasonSlot)) out.push(qp(crlf(fill(chunk, values, html))));
    else out.push(qpGroup(chunk, values, html, valueCodes));
  }
}

/**
 * Reusable memory for finished messages: a message's bytes are written into a buffer taken from
 * here and given back once the transport has accepted the message, so a send does not allocate
 * (and the garbage collector free) a new 60 to 100 KB buffer outside the heap per recipient.
 * Buffers come in 16 KiB size classes; at most `maxBytes` of free ones are kept.
 */
export class RawBufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(private readonly maxBytes = 8 * 1024 * 1024) {}

  private static capacity(length: number): number {
    return Math.ceil(Math.max(length, 1) / 16384) * 16384;
  }

  /** A buffer of exactly `length` bytes (a view of a pooled one), contents undefined. */
  take(length: number): Buffer {
    const capacity = RawBufferPool.capacity(length);
    const list = this.free.get(capacity);
    let whole = list?.pop();
    if (whole) this.freeBytes -= capacity;
    // Its own memory (allocUnsafeSlow): never a slice of Node's shared pool, so reuse touches nothing else.
    else whole = Buffer.allocUnsafeSlow(capacity);
    this.lent.add(whole.buffer);
    return whole.subarray(0, length);
  }

  /** Gives back a buffer from take() once nothing reads it any more; anything else is ignored. */
  give(buffer: Buffer): void {
    if (!this.lent.has(buffer.buffer) || buffer.byteOffset !== 0) return;
    this.lent.delete(buffer.buffer);
    const capacity = buffer.buffer.byteLength;
    if (this.freeBytes + capacity > this.maxBytes) return;
    let list = this.free.get(capacity);
    if (!list) this.free.set(capacity, (list = []));
    list.push(Buffer.from(buffer.buffer, 0, capacity));
    this.freeBytes += capacity;
  }
}

const partHeaders = (type: string) => `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n`;
const TEXT_HEADERS = partHeaders('text/plain');
const HTML_HEADERS = partHeaders('text/html');

const defaultHeaders = new HeaderWriter();

/** One recipient's message: headers written, personal fields encoded for their place, the rest copied. */
export function spliceMessage(
  variant: EncodedVariant,
  input: Omit<ComposeInput, 'text' | 'html'>,
  values: PersonalFields,
  headers: HeaderWriter = defaultHeaders,
  /** Where the bytes go (given back by the caller once sent); default a new buffer. */
  buffers?: RawBufferPool,
): Buffer {
  const b = variant.boundary;
  const normalise = valuesHaveBreaks(values);
  const pieces: (Buffer | string)[] = [`${headers.block(input, variant.contentType)}\r\n\r\n--${b}\r\n${TEXT_HEADERS}`];
  encodedBodyChunks(variant.text, values, false, pieces, normalise);
  pieces.push(`\r\n--${b}\r\n${HTML_HEADERS}`);
  encodedBodyChunks(variant.html, values, true, pieces, normalise);
  pieces.push(`\r\n--${b}--\r\n`);
  // Headers may hold UTF-8 (an SMTPUTF8 address); encoded bodies are ASCII.
  let length = 0;
  for (const piece of pieces) length += typeof piece === 'string' ? Buffer.byteLength(piece, 'utf8') : piece.length;
  const raw = buffers ? buffers.take(length) : Buffer.allocUnsafe(length);
  let at = 0;
  for (const piece of pieces) at += typeof piece === 'string' ? raw.write(piece, at, 'utf8') : piece.copy(raw, at);
  return raw;
}
