import { createHash } from 'node:crypto';
import type { Heading, Paragraph, PhrasingContent, Root, RootContent } from 'mdast';
import { toString } from 'mdast-util-to-string';
import remarkMath from 'remark-math';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import type { Problem } from '../errors.js';
import { joinRichText, toRichText } from './inline.js';
import { protectLatexQuotes } from './latex.js';
import type { DateRange, Paper, RichText, Section } from './types.js';

export interface ParseResult {
  sections: Section[];
  /** Malformed sections (each skipped on its own) and stray content, with file:line. */
  problems: Problem[];
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const RANGE = /^date range:\s*\[\s*(\d{4}-\d{2}-\d{2})\s*,\s*(\d{4}-\d{2}-\d{2})\s*[)\]]$/i;
const KNOWN_FIELDS = new Set(['authors', 'link', 'motivation', 'method', 'abstract']);

export function isValidDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === value;
}

// remark-math keeps `$...$` away from Markdown (`_` and `*` inside math are not emphasis).
const parser = unified().use(remarkParse).use(remarkMath);

/** A field paragraph starts with a bold label: `**Abstract:** text` or `**Abstract**: text`. */
function fieldOf(node: Paragraph): { label: string; rest: PhrasingContent[] } | null {
  const [first, ...rest] = node.children;
  if (first?.type !== 'strong') return null;
  const strongText = toString(first).trim();
  let label: string;
  const inside = /^(.+?)\s*:$/.exec(strongText);
  if (inside) {
    label = inside[1]!;
  } else {
    const next = rest[0];
    if (next?.type !== 'text' || !next.value.startsWith(':')) return null;
    label = strongText;
    rest[0] = { ...next, value: next.value.slice(1) };
  }
  if (!label || label.length > 40) return null;
  return { label, rest };
}

class SectionError extends Error {
  constructor(
    readonly line: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

interface PaperDraft {
  title: RichText;
  line: number;
  fields: Map<string, { label: string; line: number; parts: RichText[] }>;
  current: string | null;
}

interface SectionDraft {
  date: string;
  line: number;
  startOffset: number;
  range: DateRange | null;
  papers: PaperDraft[];
  error: SectionError | null;
}

function lineOf(node: { position?: { start: { line: number } } }): number {
  return node.position?.start.line ?? 0;
}

function arxivId(link: string | null): string | null {
  if (!link) return null;
  return /arxiv\.org\/(?:abs|pdf|html)\/([0-9]{4}\.[0-9]{4,5}|[a-z-]+\/[0-9]{7})/i.exec(link)?.[1] ?? null;
}

function finishPaper(draft: PaperDraft, file: string): Paper {
  const take = (name: string): RichText | null => {
    const field = draft.fields.get(name);
    return field && field.parts.length > 0 ? joinRichText(field.parts) : null;
  };
  const linkField = draft.fields.get('link');
  let link: string | null = null;
  const linkText = take('link')?.text.trim();
  if (linkText) {
    // `**Link:** https://...` or `[text](https://...)`: the first URL in the field wins.
    const candidate = /\b(?:https?:\/\/)[^\s<>()"']+/i.exec(linkText)?.[0];
    let ok = false;
    try {
      ok = candidate !== undefined && ['http:', 'https:'].includes(new URL(candidate).protocol);
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new SectionError(
        linkField!.line,
        `the link of "${draft.title.text}" is not an http(s) URL: "${linkText.slice(0, 80)}"`,
        'Write the Link field as **Link:** https://arxiv.org/pdf/NNNN.NNNNN',
      );
    }
    link = candidate!;
  }
  const authorsText = take('authors')?.text ?? '';
  const authors = authorsText
    .split(/\s*(?:,|;|\band\b|&)\s*/)
    .map((a) => a.trim())
    .filter(Boolean);
  const extra: Record<string, RichText> = {};
  for (const [key, field] of draft.fields) {
    if (!KNOWN_FIELDS.has(key) && field.parts.length > 0) extra[field.label] = joinRichText(field.parts);
  }
  return {
    id: arxivId(link) ?? createHash('sha256').update(draft.title.text).digest('hex').slice(0, 12),
    title: draft.title,
    authors,
    link,
    motivation: take('motivation'),
    method: take('method'),
    abstract: take('abstract'),
    extra,
    source: `${file}:${draft.line}`,
  };
}

function addField(paper: PaperDraft, label: string, line: number, value: RichText | null): void {
  const key = label.toLowerCase();
  if (paper.fields.has(key)) {
    throw new SectionError(
      line,
      `"${paper.title.text}" has a second **${label}:** field (the first is on line ${paper.fields.get(key)!.line})`,
      'Merge the two into one field.',
    );
  }
  paper.fields.set(key, { label, line, parts: value && value.text ? [value] : [] });
  paper.current = key;
}

function handleNode(section: SectionDraft, node: RootContent): void {
  const paper = section.papers[section.papers.length - 1];
  if (node.type === 'heading' && node.depth === 3) {
    const title = toRichText(node.children);
    if (!title.text) throw new SectionError(lineOf(node), 'a paper heading (###) has no title');
    section.papers.push({ title, line: lineOf(node), fields: new Map(), current: null });
    return;
  }
  if (node.type === 'heading' && node.depth >= 4 && paper) {
    addField(paper, toString(node).replace(/:\s*$/, '').trim(), lineOf(node), null);
    return;
  }
  if (node.type === 'thematicBreak' || node.type === 'html' && !node.value.trim()) return;
  if (node.type === 'paragraph') {
    const text = toString(node).trim();
    if (/^date range\b/i.test(text)) {
      const m = RANGE.exec(text);
      if (!m || !isValidDate(m[1]!) || !isValidDate(m[2]!)) {
        throw new SectionError(lineOf(node), `cannot read the date range "${text}"`, 'Write it as *Date Range: [YYYY-MM-DD, YYYY-MM-DD)*');
      }
      section.range = { from: m[1]!, to: m[2]! };
      return;
    }
    const field = fieldOf(node);
    if (field && paper) {
      addField(paper, field.label, lineOf(node), toRichText(field.rest));
      return;
    }
  }
  if (paper?.current) {
    // An unlabelled block after a field continues that field (multi-paragraph abstracts).
    paper.fields.get(paper.current)!.parts.push(toRichText([node]));
    return;
  }
  throw new SectionError(
    lineOf(node),
    paper
      ? `text under "${paper.title.text}" before any **Field:** label`
      : `unexpected ${node.type} before the first paper (### Title)`,
    'Each paper is a ### title followed by **Authors:**, **Link:**, **Motivation:**, **Method:**, **Abstract:** fields.',
  );
}

/**
 * Parses one digest file. Never throws for content: each malformed section becomes a
 * problem naming file:line and is left out, so the other sections still go out.
 */
/**
 * The longest line the parser reads, in UTF-16 code units; the rest of a longer line is dropped
 * before parsing. Far above anything shown or read (limits.maxFieldChars is at most 100,000; the
 * tagger reads 20,000): remark builds a tree of every character, so one 20 MB abstract line
 * cost 6.5 s and 1.4 GB peak RSS to parse, for text that is cut to 5,000 characters later.
 * Lines are only shortened, never removed, so every line number a problem names stays right.
 */
export const MAX_LINE_CHARS = 200_000;

/** The markdown with every line longer than `max` cut to `max` (the same string when none is). */
export function capLongLines(markdown: string, max = MAX_LINE_CHARS): string {
  if (markdown.length <= max) return markdown;
  const lines: string[] = [];
  let cut = false;
  for (let start = 0; start <= markdown.length; ) {
    const newline = markdown.indexOf('\n', start);
    const end = newline < 0 ? markdown.length : newline;
    if (end - start > max) {
      // Not between the two halves of a surrogate pair.
      const high = markdown.charCodeAt(start + max - 1);
      lines.push(markdown.slice(start, start + max - (high >= 0xd800 && high <= 0xdbff ? 1 : 0)));
      cut = true;
    } else {
      lines.push(markdown.slice(start, end));
    }
    start = end + 1;
  }
  return cut ? lines.join('\n') : markdown;
}

export function parseDigest(original: string, file: string): ParseResult {
  // Section hashes and offsets are of this text, so a capped line hashes the same on every run.
  const markdown = capLongLines(original);
  // LaTeX ``quotes'' would read as Markdown code spans: swapped for same-length marks first.
  const tree: Root = parser.parse(protectLatexQuotes(markdown));
  const sections: Section[] = [];
  const problems: Problem[] = [];
  const drafts: SectionDraft[] = [];
  let current: SectionDraft | null = null;
  let skipping = false;

  for (const node of tree.children) {
    if (node.type === 'heading' && node.depth === 2) {
      const text = toString(node as Heading).trim();
      const line = lineOf(node);
      skipping = false;
      current = {
        date: text,
        line,
        startOffset: node.position?.start.offset ?? 0,
        range: null,
        papers: [],
        error: isValidDate(text)
          ? null
          : new SectionError(line, `section heading "## ${text}" is not a date`, 'Section headings are "## YYYY-MM-DD".'),
      };
      drafts.push(current);
      continue;
    }
    if (!current) {
      if (node.type === 'heading' && node.depth === 3) {
        problems.push({
          where: `${file}:${lineOf(node)}`,
          message: `paper "${toString(node)}" is outside any dated section`,
          hint: 'Put a "## YYYY-MM-DD" heading above it.',
        });
        skipping = true;
      }
      // A title (# ...) or an introduction before the first section is allowed and ignored.
      continue;
    }
    if (current.error || skipping) continue;
    try {
      handleNode(current, node);
    } catch (err) {
      if (!(err instanceof SectionError)) throw err;
      current.error = err;
    }
  }

  drafts.forEach((draft, index) => {
    const fail = (err: SectionError) =>
      problems.push({
        where: `${file}:${err.line}`,
        message: `section ${draft.date} (line ${draft.line}) skipped: ${err.message}`,
        ...(err.hint ? { hint: err.hint } : {}),
      });
    if (draft.error) return fail(draft.error);
    let papers: Paper[];
    try {
      papers = draft.papers.map((p) => finishPaper(p, file));
    } catch (err) {
      if (!(err instanceof SectionError)) throw err;
      return fail(err);
    }
    const seen = new Map<string, number>();
    for (const paper of papers) {
      const n = (seen.get(paper.id) ?? 0) + 1;
      seen.set(paper.id, n);
      if (n > 1) paper.id = `${paper.id}-${n}`;
    }
    const end = drafts[index + 1]?.startOffset ?? markdown.length;
    const raw = markdown
      .slice(draft.startOffset, end)
      .replace(/\r\n?/g, '\n')
      .replace(/[ \t]+$/gm, '')
      .trim();
    sections.push({
      date: draft.date,
      range: draft.range,
      source: `${file}:${draft.line}`,
      hash: createHash('sha256').update(raw).digest('hex'),
      papers,
    });
  });
  return { sections, problems };
}

// Merging parsed files lives apart, so a run whose files all come from the parse cache never loads the parser.
export { mergeDigests } from './merge.js';

/** A piece of Markdown with LaTeX-isms typeset the way a digest field is (tests, previews, web pages). */
export function typesetMarkdown(markdown: string): RichText {
  return toRichText(parser.parse(protectLatexQuotes(markdown)).children);
}
