/**
 * Soft line breaks for quoted-printable text: nodemailer's `qp.wrap`, decision for decision,
 * found by looking at character codes instead of cutting a substring and running up to five
 * regular expressions per output line. In a send, wrap was the largest single source of garbage
 * (a fifth of all allocation, about 100 KB per message for the few kilobytes of a recipient's
 * lines), and the young-generation collections that garbage costs were the largest item left
 * in a send's profile. test/mail/qp-wrap.test.ts compares the two on edge cases and on random
 * quoted-printable text; anything but ASCII goes to nodemailer's own function.
 */
import { wrap } from 'nodemailer/lib/qp';

const CR = 13;
const LF = 10;
const EQUALS = 61;

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
/** The characters nodemailer prefers to break after: space, tab, ".", ",", "!", "?". */
const isBreakAfter = (c: number) => c === 32 || c === 9 || c === 46 || c === 44 || c === 33 || c === 63;
/** Characters a regular expression's "." does not match (its line terminators). */
const isTerminator = (c: number) => c === LF || c === CR || c === 0x2028 || c === 0x2029;

/** Whether str[from, to) ends with "=" and two hex digits. */
function endsWithEscape(str: string, from: number, to: number): boolean {
  return to - from >= 3 && str.charCodeAt(to - 3) === EQUALS && isHex(str.charCodeAt(to - 2)) && isHex(str.charCodeAt(to - 1));
}

/** /[=][\da-f]{0,2}$/i: str[from, to) ends with "=" followed by at most two hex digits. */
function endsWithPartialEscape(str: string, from: number, to: number): boolean {
  const n = to - from;
  if (n >= 1 && str.charCodeAt(to - 1) === EQUALS) return true;
  if (n >= 2 && str.charCodeAt(to - 2) === EQUALS && isHex(str.charCodeAt(to - 1))) return true;
  return endsWithEscape(str, from, to);
}

/** /^(?:=[\da-f]{2}){1,4}$/i over str[from, to). */
function isOnlyEscapes(str: string, from: number, to: number): boolean {
  const n = to - from;
  if (n === 0 || n > 12 || n % 3 !== 0) return false;
  for (let i = from; i < to; i += 3) if (!endsWithEscape(str, i, i + 3)) return false;
  return true;
}

// Any character outside ASCII: handed to nodemailer's wrap (this one is exact for ASCII).
const NOT_ASCII = /[^\x00-\x7f]/;

export function wrapQp(str: string, lineLength = 76): string {
  if (str.length <= lineLength) return str;
  if (lineLength < 4 || NOT_ASCII.test(str)) return wrap(str, lineLength);
  const margin = Math.floor(lineLength / 3);
  const len = str.length;
  let pos = 0;
  let result = '';
  // The next CRLF at or after pos (-1: none), looked up again only once pos has passed it, so
  // a long text without one is not searched to its end for every line.
  let crlf = str.indexOf('\r\n');
  while (pos < len) {
    const end = Math.min(pos + lineLength, len);
    if (crlf !== -1 && crlf < pos) crlf = str.indexOf('\r\n', pos);
    // A hard line break within the next line length: the line ends there.
    if (crlf !== -1 && crlf + 2 <= end) {
      result += str.slice(pos, crlf + 2);
      pos = crlf + 2;
      continue;
    }
    if (str.charCodeAt(end - 1) === LF) {
      result += str.slice(pos, end);
      pos = end;
      continue;
    }
    // A bare LF in the last third with no other line terminator after it: the line ends after it.
    const tail = Math.max(pos, end - margin);
    let lastLf = end - 1;
    while (lastLf >= tail && str.charCodeAt(lastLf) !== LF) lastLf--;
    if (lastLf >= tail) {
      let clean = true;
      for (let i = lastLf + 1; i < end; i++) if (isTerminator(str.charCodeAt(i))) clean = false;
      if (clean) {
        result += str.slice(pos, lastLf + 1);
        pos = lastLf + 1;
        continue;
      }
    }
    let lineEnd = end;
    let atBreak = false;
    if (end - pos > lineLength - margin) {
      for (let i = end - 1; i >= tail; i--) {
        if (isBreakAfter(str.charCodeAt(i))) {
          lineEnd = i + 1;
          atBreak = true;
          break;
        }
      }
    }
    if (!atBreak && endsWithPartialEscape(str, pos, lineEnd)) {
      // An incomplete escape moves to the next line; then no UTF-8 sequence is split.
      if (lineEnd - pos >= 2 && str.charCodeAt(lineEnd - 2) === EQUALS && isHex(str.charCodeAt(lineEnd - 1))) lineEnd -= 2;
      else if (str.charCodeAt(lineEnd - 1) === EQUALS) lineEnd -= 1;
      while (lineEnd - pos > 3 && lineEnd - pos < len - pos && !isOnlyEscapes(str, pos, lineEnd) && endsWithEscape(str, pos, lineEnd)) {
        const code = parseInt(str.slice(lineEnd - 2, lineEnd), 16);
        if (code < 128) break;
        lineEnd -= 3;
        if (code >= 0xc0) break;
      }
    }
    if (lineEnd === pos) lineEnd = end;
    if (lineEnd < len && str.charCodeAt(lineEnd - 1) !== LF) {
      if (lineEnd - pos === lineLength) lineEnd -= endsWithEscape(str, pos, lineEnd) ? 3 : 1;
      result += `${str.slice(pos, lineEnd)}=\r\n`;
    } else {
      result += str.slice(pos, lineEnd);
    }
    pos = lineEnd;
  }
  return result;
}
