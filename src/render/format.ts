import type { EmailFormat } from '../audience/schema.js';

/**
 * Emails with at most this many papers are `full` for a reader who has not chosen a format;
 * more papers are `compact`. Measured in Chromium at 390 px (README "The emails"): three full
 * papers are about 5,200 px (six phone screens); eighteen are 18,400 px in full and 8,300 px
 * compact, the headlines being the first three screens of it.
 */
export const FULL_FORMAT_UP_TO = 3;

/** The reader's format, or the default for an email of `paperCount` papers. */
export function formatFor(preference: EmailFormat | undefined, paperCount: number): EmailFormat {
  return preference ?? (paperCount <= FULL_FORMAT_UP_TO ? 'full' : 'compact');
}
