import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import Handlebars from 'handlebars';
import { InputError } from '../errors.js';

export const PAGE_NAMES = ['subscribe', 'check-inbox', 'confirm', 'confirmed', 'preferences', 'unsubscribe', 'unsubscribed', 'message', 'archive', 'issue', 'link-request', 'feedback'] as const;
export type PageName = (typeof PAGE_NAMES)[number];

/** What a page adds to the layout's head. */
export interface PageHead {
  /** `<link rel="alternate">`s, e.g. the Atom feeds. */
  alternates?: readonly { href: string; title: string; type: string }[];
  /** Personal pages: not for search engines. */
  noindex?: boolean;
}

/** The feeds every page names in its head, so a browser or feed reader finds them from any page. */
export const SITE_FEEDS = [{ href: '/feeds/all.atom', title: 'All papers (Atom)', type: 'application/atom+xml' }];

export interface Pages {
  render(name: PageName, title: string, data: Record<string, unknown>, head?: PageHead): string;
  css: string;
}

/** Server-rendered pages from `templates/web/`: a layout, one template per page, partials. */
export async function loadPages(templatesDir: string, list: { name: string; postalAddress?: string | undefined }): Promise<Pages> {
  const dir = join(templatesDir, 'web');
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const read = (file: string) =>
    readFile(join(dir, file), 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read page template ${join(dir, file)}: ${err.code ?? err.message}`);
    });
  const compile = (source: string, file: string) => {
    try {
      hb.precompile(source);
      return hb.compile(source);
    } catch (err) {
      throw new InputError(`${join(dir, file)}: ${(err as Error).message}`);
    }
  };
  for (const file of await readdir(join(dir, 'partials')).catch(() => [] as string[])) {
    if (file.endsWith('.hbs')) hb.registerPartial(basename(file, '.hbs'), await read(join('partials', file)));
  }
  const layout = compile(await read('layout.hbs'), 'layout.hbs');
  const pages = new Map<PageName, Handlebars.TemplateDelegate>();
  for (const name of PAGE_NAMES) pages.set(name, compile(await read(`${name}.hbs`), `${name}.hbs`));
  const css = await read('style.css');
  return {
    css,
    render(name, title, data, head = {}) {
      const body = pages.get(name)!({ ...data, list });
      return layout({ title, body, list, alternates: head.alternates ?? SITE_FEEDS, noindex: head.noindex ?? false });
    },
  };
}
