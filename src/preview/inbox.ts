import libmime from 'libmime';
import { Parser } from 'htmlparser2';

/**
 * How many characters of body text an inbox takes for its preview line. Gmail's snippet (what
 * its API returns and its rows cut from) is about the first 200 characters of the message's
 * text; Apple Mail takes less. Padding after the preheader only works if it fills these.
 */
export const SNIPPET_CHARS = 200;

/** Elements whose text no inbox shows. */
const SKIPPED = new Set(['head', 'style', 'script', 'title', 'template']);

/**
 * The text an inbox shows after the subject: the body's text in document order (the hidden
 * preheader first), HTML white space collapsed, entities decoded, cut to `chars` characters.
 * Invisible padding characters (zero-width non-joiners, combining grapheme joiners, soft
 * hyphens, no-break spaces) are kept: they count toward the cut as they do in the clients,
 * so body text that leaks past too short a padding shows here too.
 */
export function inboxSnippet(html: string, chars = SNIPPET_CHARS): string {
  let text = '';
  let skipping = 0;
  const parser = new Parser(
    {
      onopentag(name) {
        if (SKIPPED.has(name)) skipping++;
        // Block boundaries separate words, as clients do when they flatten a body.
        else if (/^(p|div|br|tr|td|h[1-6]|li|table)$/.test(name)) text += ' ';
      },
      onclosetag(name) {
        if (SKIPPED.has(name)) skipping--;
      },
      ontext(data) {
        if (skipping === 0) text += data;
      },
    },
    { decodeEntities: true },
  );
  parser.write(html);
  parser.end();
  // Only HTML white space collapses; a no-break space is a character of its own.
  return [...text.replace(/[ \t\r\n\f]+/g, ' ').trimStart()].slice(0, chars).join('');
}

export interface HeaderLine {
  name: string;
  /** As sent: RFC 2047 encoded words and all. */
  raw: string;
  /** As a mail client shows it: `To: 李明 <li@example.cn>`. */
  decoded: string;
}

/** The header block of a raw message, unfolded, each value decoded as a client would show it. */
export function messageHeaders(raw: Buffer | string): HeaderLine[] {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  const block = (end === -1 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  return block
    .split(/\r?\n/)
    .filter((line) => line.includes(':'))
    .map((line) => {
      const name = line.slice(0, line.indexOf(':'));
      const value = line.slice(line.indexOf(':') + 1).trim();
      return { name, raw: value, decoded: decodeHeaderValue(value) };
    });
}

function decodeHeaderValue(value: string): string {
  try {
    return libmime.decodeWords(value);
  } catch {
    return value; // malformed encoded words: show them as sent
  }
}
