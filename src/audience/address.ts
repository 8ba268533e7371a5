import { domainToASCII } from 'node:url';
import { z } from 'zod';

/**
 * Email addresses as people have them: RFC 5322 dot-atoms (`a+b=c@example.net`), with the
 * UTF-8 of RFC 6531 in the local part and internationalised domains (`müller@bücher.example`).
 * No quoted local parts, comments or IP literals: they have no place on a mailing list.
 */
const ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-";
const LOCAL_PART = new RegExp(`^[${ATEXT}\\u0080-\\u{10FFFF}]+(?:\\.[${ATEXT}\\u0080-\\u{10FFFF}]+)*$`, 'u');
/** Control, format (bidi overrides, zero-width), private-use, unassigned and separator characters. */
const INVISIBLE = /[\p{C}\p{Z}]/u;
const ASCII_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

export function isEmailAddress(value: string): boolean {
  if (value.length > 254) return false;
  const at = value.lastIndexOf('@');
  if (at < 1) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (Buffer.byteLength(local) > 64 || !LOCAL_PART.test(local) || INVISIBLE.test(local)) return false;
  if (INVISIBLE.test(domain)) return false;
  const ascii = domainToASCII(domain);
  if (!ascii || ascii.length > 253) return false;
  const labels = ascii.split('.');
  return labels.length >= 2 && labels.every((l) => ASCII_LABEL.test(l)) && !/^\d+$/.test(labels.at(-1)!);
}

/** Whether delivering to this address needs SMTPUTF8 (a non-ASCII local part; a domain has its punycode form). */
export function needsSmtpUtf8(address: string): boolean {
  return /[^\x00-\x7f]/.test(address.slice(0, address.lastIndexOf('@')));
}

/** The address with its domain in ASCII (punycode), which every server understands. */
export function withAsciiDomain(address: string): string {
  const at = address.lastIndexOf('@');
  // Already ASCII and lower case: domainToASCII would give it back unchanged (or nothing).
  if (/^[a-z0-9.-]+$/.test(address.slice(at + 1))) return address;
  return `${address.slice(0, at)}@${domainToASCII(address.slice(at + 1)) || address.slice(at + 1)}`;
}

export const emailAddress = z
  .string()
  .trim()
  .max(254)
  .refine(isEmailAddress, 'Enter a valid email address.')
  .transform((s) => s.normalize('NFC'));

/**
 * A display name: printable text only. No line breaks or control characters (it goes into a
 * To: header) and no bidirectional or invisible formatting characters (U+202A-202E, U+2066-2069,
 * U+200E/F, U+061C, zero-width spaces...), which make text read differently than it is stored.
 * ZWJ/ZWNJ stay: some scripts and emoji need them.
 */
export const displayName = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^(?:(?![\p{C}\p{Zl}\p{Zp}])[\s\S]|[\u200c\u200d])*$/u, 'must be printable text (no line breaks, control or text-direction characters)')
    .transform((s) => s.trim().replace(/\s+/g, ' '));
