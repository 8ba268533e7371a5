import { readdir, readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import Handlebars from 'handlebars';
import { InputError } from '../errors.js';

/** The raw template files, as read from `templates/` (file name -> source). */
export interface TemplateSources {
  dir: string;
  layout: string;
  text: string;
  subject: string;
  preheader: string;
  partials: Record<string, string>;
}

export interface CompiledTemplates {
  /** MJML with Handlebars: values HTML-escaped unless in {{{triple}}} braces (pre-escaped RichText.html). */
  mjml: Handlebars.TemplateDelegate;
  /** Plain text, subject and preheader: no HTML escaping. */
  text: Handlebars.TemplateDelegate;
  subject: Handlebars.TemplateDelegate;
  preheader: Handlebars.TemplateDelegate;
}

export const TEMPLATE_FILES = {
  layout: 'digest.mjml.hbs',
  text: 'digest.txt.hbs',
  subject: 'subject.hbs',
  preheader: 'preheader.hbs',
} as const;

export const partialStart = (name: string) => `<!--dm-partial:${name}-->`;

/**
 * Where a line of rendered MJML came from: the innermost partial open at that line and the
 * line within it, else the layout. Exact unless an expression above it in the same partial
 * expanded to several lines.
 */
export function locateRenderedLine(rendered: string, line: number): { file: string; line: number } {
  const lines = rendered.split('\n');
  const open: { name: string; line: number }[] = [];
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) {
    const start = /<!--dm-partial:([\w-]+)-->/.exec(lines[i]!);
    if (start) open.push({ name: start[1]!, line: i + 1 });
    if (/<!--\/dm-partial:[\w-]+-->/.test(lines[i]!)) open.pop();
  }
  const inner = open[open.length - 1];
  return inner ? { file: join('partials', `${inner.name}.mjml.hbs`), line: line - inner.line } : { file: TEMPLATE_FILES.layout, line };
}

/** Word-wraps text at `width` columns, indenting continuation lines (and the first unless first=false). */
export function wrapText(text: string, width: number, indent: string, indentFirst = true): string {
  const lines: string[] = [];
  for (const paragraph of text.split(/\n+/)) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width - indent.length) {
        lines.push(line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    lines.push(line);
  }
  return lines.map((l, i) => (i === 0 && !indentFirst ? l : indent + l)).join('\n');
}

export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max * 0.6 ? cut.slice(0, space) : cut).replace(/[\s,;:.-]+$/, '')}…`;
}

/** Words a shortened title should not end on ("… for the…"). */
const DANGLING = /\s+(?:a|an|the|and|or|of|for|to|in|on|at|by|with|via|from|into|as|is|are|towards?|vs\.?)$/i;

/**
 * `text` cut to at most `max` characters at a word boundary, with "…". The cut drops a dangling
 * small word and trailing punctuation; a cut that lands at the end of a main title ("Can MLLMs
 * Read the Room?" of "…? A Study …", or before a subtitle's colon) takes no ellipsis. A single
 * over-long word is cut where it must be.
 */
export function cutAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const space = cut.lastIndexOf(' ');
  if (space <= 0) return `${text.slice(0, max - 1)}…`;
  let kept = cut.slice(0, space);
  while (DANGLING.test(kept)) kept = kept.replace(DANGLING, '');
  if (/[?!:]$/.test(kept) && kept.length > 4) return kept.replace(/:$/, '');
  return `${kept.replace(/[\s,;:.\-–—]+$/, '')}…`;
}

/** Fewest characters of the top title a subject keeps before it takes a shorter head. */
export const SUBJECT_MIN_TITLE = 24;

/**
 * A subject of at most `max` characters: the first head that leaves room for the whole title or
 * at least SUBJECT_MIN_TITLE characters of it, the separator, then the title cut at a word.
 */
export function fitSubject(heads: readonly string[], separator: string, title: string, max: number): string {
  const usable = heads.filter((h) => h.length + separator.length < max);
  for (const head of usable) {
    const room = max - head.length - separator.length;
    if (title.length <= room || room >= SUBJECT_MIN_TITLE) return title ? head + separator + cutAtWord(title, room) : head;
  }
  const head = usable[usable.length - 1];
  return head ? head + separator + cutAtWord(title, max - head.length - separator.length) : cutAtWord(title, max);
}

/** "a", "a and b", "a, b and c". */
export function listPhrase(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export function registerHelpers(hb: typeof Handlebars): void {
  hb.registerHelper('fit', (heads: unknown, separator: string, title: unknown, max: number) =>
    fitSubject(Array.isArray(heads) ? heads.map(String) : [String(heads ?? '')], separator, String(title ?? ''), max),
  );
  hb.registerHelper('repeat', (count: number, text: string) => String(text).repeat(Math.max(0, Math.min(500, Number(count) || 0))));
  hb.registerHelper('pad', (text: unknown, width: number) => String(text ?? '').padEnd(width));
  hb.registerHelper('pluck', (xs: unknown, key: string) => (Array.isArray(xs) ? xs.map((x) => (x as Record<string, unknown>)[key]) : []));
  hb.registerHelper('list', (xs: unknown) => (Array.isArray(xs) ? listPhrase(xs.map(String)) : ''));
  hb.registerHelper('plural', (n: number, one: string, many: string) => (n === 1 ? one : many));
  hb.registerHelper('inc', (n: number) => n + 1);
  hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).join(''));
  hb.registerHelper('join', (xs: unknown[], sep: string) => (Array.isArray(xs) ? xs.join(sep) : ''));
  hb.registerHelper('truncate', (text: unknown, max: number) => truncateText(String(text ?? ''), max));
  hb.registerHelper('wrap', function (text: unknown, width: number, indent: string, options: Handlebars.HelperOptions) {
    return wrapText(String(text ?? ''), width, indent, options.hash.first !== false);
  });
}

function compile(hb: typeof Handlebars, source: string, file: string, noEscape: boolean): Handlebars.TemplateDelegate {
  try {
    // precompile parses now, so a syntax error names its file here rather than at first use.
    hb.precompile(source, { strict: false });
    return hb.compile(source, { noEscape, strict: false });
  } catch (err) {
    throw new InputError(`${file}: ${(err as Error).message}`, 'Fix the Handlebars syntax in this template.');
  }
}

/** Compiles template sources; pure apart from Handlebars' own state, which is per call. */
export function compileTemplates(sources: TemplateSources, displayBase = process.cwd()): CompiledTemplates {
  const hb = Handlebars.create();
  registerHelpers(hb);
  const name = (file: string) => relative(displayBase, join(sources.dir, file)) || file;
  for (const [partial, source] of Object.entries(sources.partials)) {
    const file = name(join('partials', `${partial}.mjml.hbs`));
    try {
      hb.precompile(source);
    } catch (err) {
      throw new InputError(`${file}: ${(err as Error).message}`, 'Fix the Handlebars syntax in this partial.');
    }
    // Markers (HTML comments, dropped by MJML) let an MJML error name the partial it came from.
    hb.registerPartial(partial, `${partialStart(partial)}\n${source}\n<!--/dm-partial:${partial}-->`);
  }
  return {
    mjml: compile(hb, sources.layout, name(TEMPLATE_FILES.layout), false),
    text: compile(hb, sources.text, name(TEMPLATE_FILES.text), true),
    subject: compile(hb, sources.subject, name(TEMPLATE_FILES.subject), true),
    preheader: compile(hb, sources.preheader, name(TEMPLATE_FILES.preheader), true),
  };
}

/**
 * A Handlebars environment for the subscribe-form emails (confirm, already-subscribed): the
 * digest's helpers and partials (dark mode, footer), so every email shares one look.
 */
export async function transactionalHandlebars(dir: string): Promise<typeof Handlebars> {
  const hb = Handlebars.create();
  registerHelpers(hb);
  const { partials } = await readTemplateSources(dir);
  for (const [name, source] of Object.entries(partials)) hb.registerPartial(name, source);
  return hb;
}

export async function readTemplateSources(dir: string): Promise<TemplateSources> {
  const read = async (file: string) => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (err) {
      throw new InputError(
        `cannot read template ${join(dir, file)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        'Restore it from the repository or set paths.templates in the config file.',
      );
    }
  };
  const partialDir = join(dir, 'partials');
  const partialFiles = (await readdir(partialDir).catch(() => [] as string[])).filter((f) => f.endsWith('.mjml.hbs'));
  const partials: Record<string, string> = {};
  for (const file of partialFiles.sort()) partials[basename(file, '.mjml.hbs')] = await read(join('partials', file));
  return {
    dir,
    layout: await read(TEMPLATE_FILES.layout),
    text: await read(TEMPLATE_FILES.text),
    subject: await read(TEMPLATE_FILES.subject),
    preheader: await read(TEMPLATE_FILES.preheader),
    partials,
  };
}
