import { randomBytes } from 'node:crypto';
import juice from 'juice';
import { Parser } from 'htmlparser2';
import { LRUCache } from 'lru-cache';

/**
 * MJML compiles per layout, not per paper set.
 *
 * MJML turns components (sections, columns, dividers) into table markup and copies the content
 * of an `mj-text` or `mj-button` through as it is (trimmed); the only later pass over that
 * content is juice, which inlines the `<mj-style inline="inline">` rules. So the email for one
 * paper set is the compiled *layout* (the MJML with every such content replaced by a marker),
 * with each content block, inlined on its own, put back at its marker. Layouts repeat across
 * paper sets (they differ in how many papers are shown in full and which optional parts
 * appear), so a day's hundreds of paper sets need a few dozen MJML compiles; each paper set
 * still gets its own HTML, assembled in about a millisecond instead of a 20 to 50 ms compile.
 *
 * The assembled HTML is byte for byte what compiling the whole document gives: the first
 * document of each template shape is compiled both ways and compared (a difference turns the
 * layout path off for those templates, and says so), the tests compare every seed variant,
 * and a document this reasoning does not cover (see `unsupported`) is compiled whole.
 */

/** Components whose content MJML copies through unchanged (an "ending tag" rendered with getContent()). */
const BLOCK = /(<(mj-text|mj-button)\b(?:[^>]*[^/>])?>)([\s\S]*?)(<\/\2\s*>)/g;
const INLINE_STYLE = /<mj-style\b[^>]*\binline\s*=\s*["']inline["'][^>]*>([\s\S]*?)<\/mj-style\s*>/g;

/**
 * What only a whole-document compile handles: template syntax juice protects as one block
 * across elements ({{ }}, <% %>), conditional comments MJML rewrites, and mj-html-attributes
 * (selectors over the whole body).
 */
function unsupported(text: string): boolean {
  return text.includes('{{') || text.includes('<%') || text.includes('<!--[if') || text.includes('<![endif]') || text.includes('mj-html-attributes');
}

/**
 * Inline rules a block inlined inside its ancestors (see Layout.chains) could apply differently
 * than in the whole document: selectors that look at siblings of an element outside the block
 * (+, ~ across compounds), or at the document as a whole (:root, :has, :scope). Combinators
 * down the tree (descendant, child) see the same ancestors in both.
 */
function contextFree(css: string): boolean {
  const plain = css.replace(/\/\*[\s\S]*?\*\//g, '');
  if (/@/.test(plain)) return false;
  for (const rule of plain.split('}')) {
    const selectors = rule.split('{')[0]!.trim();
    if (!selectors) continue;
    for (const selector of selectors.split(',').map((s) => s.trim())) {
      if (/:(root|scope|has)\b/i.test(selector)) return false;
      const compounds = selector.split(/\s*[>\s]\s*/).filter(Boolean);
      if (compounds.length > 1 && /[+~]/.test(selector)) return false;
      // Position among siblings is only the same for the block's own elements (the last compound).
      if (compounds.slice(0, -1).some((c) => /:(nth|first|last|only)-/i.test(c))) return false;
    }
  }
  return true;
}

/** Where each marker sits in the compiled layout: the open tags around it, verbatim, and their closing tags. */
function markerChains(html: string, marker: RegExp): { open: string; close: string }[] {
  const open: string[] = [];
  const names: string[] = [];
  const chains: { open: string; close: string }[] = [];
  const parser: Parser = new Parser(
    {
      onopentag(name) {
        open.push(html.slice(parser.startIndex, parser.endIndex + 1));
        names.push(name);
      },
      onclosetag() {
        open.pop();
        names.pop();
      },
      ontext() {
        for (const m of html.slice(parser.startIndex, parser.endIndex + 1).matchAll(marker)) {
          chains[Number(m[1])] = { open: open.join(''), close: names.map((n) => `</${n}>`).reverse().join('') };
        }
      },
    },
    { decodeEntities: false },
  );
  parser.end(html);
  return chains;
}

interface Split {
  layout: string;
  blocks: string[];
  css: string;
}

interface Layout {
  /** Compiled layout cut at the block markers: parts[i] + block i + parts[i + 1] ... */
  parts: string[];
  /**
   * Per block, the elements around it in the layout (open tags as compiled, with their classes
   * and attributes): a block is inlined inside them, so rules like `.dm-footer a` match as in
   * the whole document.
   */
  chains: { id: number; open: string; close: string }[];
}

/**
 * A block's structure: every text run and attribute value (but class and style) replaced by a
 * stand-in. Which inline rules match an element, and what juice writes, depend on the structure
 * only when the rules select by tag and class alone (see byStructure); blocks of different papers
 * then share one juice run.
 */
const STANDIN = '\uE000';
const TAG = /<!--[\s\S]*?-->|<\/?[a-zA-Z][^\s/>]*(?:\s+[^\s=/>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*\/?>/g;
const ATTRIBUTE_VALUE = /(\s([^\s=/>]+)\s*=\s*)("[^"]*"|'[^']*')/g;

function structureOf(block: string): { structure: string; values: string[] } | null {
  if (block.includes(STANDIN)) return null;
  const values: string[] = [];
  let structure = '';
  let last = 0;
  const text = (run: string) => {
    if (/\S/.test(run)) {
      values.push(run);
      structure += STANDIN;
    } else structure += run;
  };
  for (const m of block.matchAll(TAG)) {
    text(block.slice(last, m.index));
    structure += m[0].startsWith('<!--')
      ? m[0]
      : m[0].replace(ATTRIBUTE_VALUE, (whole, before: string, name: string, value: string) => {
          if (/^(class|style)$/i.test(name)) return whole;
          values.push(value.slice(1, -1));
          return `${before}${value[0]}${STANDIN}${value[0]}`;
        });
    last = m.index + m[0].length;
  }
  text(block.slice(last));
  return { structure, values };
}

/**
 * The top-level nodes of a block, as consecutive slices (an element with what it holds, a text
 * run, a comment). With rules that select by structure, an element's styles depend only on it
 * and its ancestors, so each top-level node is inlined on its own (and shared across blocks).
 */
function topLevel(html: string): string[] {
  const starts: number[] = [0];
  let depth = 0;
  const parser: Parser = new Parser(
    {
      onopentag() {
        if (depth === 0) starts.push(parser.startIndex);
        depth++;
      },
      onclosetag() {
        depth = Math.max(0, depth - 1);
      },
      ontext() {
        if (depth === 0) starts.push(parser.startIndex);
      },
      oncomment() {
        if (depth === 0) starts.push(parser.startIndex);
      },
    },
    { decodeEntities: false },
  );
  parser.end(html);
  const cuts = [...new Set(starts)].sort((a, b) => a - b);
  return cuts.map((from, i) => html.slice(from, cuts[i + 1] ?? html.length)).filter(Boolean);
}

/** Rules that select by tag names and classes only (descendant and child combinators allowed). */
function byStructure(css: string): boolean {
  const plain = css.replace(/\/\*[\s\S]*?\*\//g, '');
  return plain
    .split('}')
    .map((rule) => rule.split('{')[0]!.trim())
    .filter(Boolean)
    .every((selectors) => selectors.split(',').every((selector) => /^[\w\s.*>-]+$/.test(selector.trim())));
}

const START = '<!--dm-block-->';
const END = '<!--/dm-block-->';

/** Bytes of a cached string (UTF-16, two bytes a character). */
const stringBytes = (s: string) => 2 * s.length + 64;

export interface LayoutStats {
  /** MJML compiles of a layout. */
  layouts: number;
  /** MJML compiles of a whole document (the check per template shape, or a document the layout path does not cover). */
  whole: number;
  /** Documents assembled from a compiled layout. */
  assembled: number;
  /** Blocks inlined by juice (a block of the same structure in the same place is inlined once). */
  inlined: number;
}

/** Every LayoutCompiler of this process together (for the benchmark's compile count). */
export const mjmlTotals: LayoutStats = { layouts: 0, whole: 0, assembled: 0, inlined: 0 };

export type MjmlCompile = (source: string, strict: boolean) => Promise<string>;

export class LayoutCompiler {
  private readonly marker = `@@dmblock${randomBytes(6).toString('hex')}_`;
  private readonly layouts = new LRUCache<string, Promise<Layout | null>>({ max: 64 });
  private readonly inlined = new LRUCache<string, string>({ maxSize: 4 * 1024 * 1024, sizeCalculation: (v, k) => stringBytes(v) + stringBytes(k) });
  /** Shapes whose layout path was compared with a whole compile. */
  private readonly checkedShapes = new Set<string>();
  /**
   * Shapes compiled with MJML's strict validation once. It checks the template's tags and
   * attributes, which digest data cannot change (it arrives escaped, inside mj-text), so later
   * compiles skip it.
   */
  private readonly validatedShapes = new Set<string>();
  private readonly cssIds = new Map<string, number>();
  private readonly chainIds = new Map<string, number>();
  /** Per inline CSS (by id): whether its rules select by structure only (see byStructure). */
  private readonly structural = new Map<number, boolean>();
  /** Set when a check found a difference: every document is compiled whole from then on. */
  disabledBecause: string | null = null;
  readonly stats: LayoutStats = { layouts: 0, whole: 0, assembled: 0, inlined: 0 };

  constructor(
    private readonly mjml: MjmlCompile,
    private readonly onDisabled: (reason: string) => void = () => undefined,
    /** What `mjml` does to its output after compiling (e.g. compaction), applied to each inlined block too. */
    private readonly post: (html: string) => string = (html) => html,
  ) {}

  /** The HTML of `source`, as compiling it whole would give. `shape` names the template branches it used. */
  async compile(source: string, shape: string): Promise<string> {
    const split = this.disabledBecause || unsupported(source) ? null : this.split(source);
    if (!split) {
      const strict = !this.validatedShapes.has(shape);
      const html = await this.whole(source, strict);
      this.validatedShapes.add(shape);
      return html;
    }
    if (!this.checkedShapes.has(shape)) {
      // First document of this shape: strictly validated whole (errors name template lines),
      // and the layout path must give the same bytes.
      const whole = await this.whole(source, !this.validatedShapes.has(shape));
      this.validatedShapes.add(shape);
      const assembled = await this.assemble(split);
      if (assembled === null) return whole; // not covered: the next document of this shape is checked
      this.checkedShapes.add(shape);
      if (assembled !== whole) this.disable(`the HTML assembled from the compiled layout differs from the whole compile (template shape ${shape})`);
      return whole;
    }
    return (await this.assemble(split)) ?? this.whole(source, false);
  }

  private whole(source: string, strict: boolean): Promise<string> {
    this.stats.whole++;
    mjmlTotals.whole++;
    return this.mjml(source, strict);
  }

  private disable(reason: string): void {
    if (this.disabledBecause) return;
    this.disabledBecause = reason;
    this.onDisabled(reason);
  }

  private split(source: string): Split | null {
    const blocks: string[] = [];
    const layout = source.replace(BLOCK, (whole, open: string, _tag: string, content: string, close: string) => {
      const trimmed = content.trim();
      if (!trimmed) return whole;
      blocks.push(trimmed);
      return `${open}${this.marker}${blocks.length - 1}@@${close}`;
    });
    if (layout.includes(`${this.marker}${blocks.length}@@`)) return null;
    const css = [...source.matchAll(INLINE_STYLE)].map((m) => m[1]!.trim()).join('');
    return { layout, blocks, css };
  }

  private layoutOf(split: Split): Promise<Layout | null> {
    let layout = this.layouts.get(split.layout);
    if (!layout) {
      this.stats.layouts++;
      mjmlTotals.layouts++;
      layout = this.mjml(split.layout, false).then((html) => {
        const parts = html.split(new RegExp(`${this.marker}\\d+@@`));
        // Every marker exactly once and in order, or the layout path does not apply.
        const markers = new RegExp(`${this.marker}(\\d+)@@`, 'g');
        const found = [...html.matchAll(markers)].map((m) => Number(m[1]));
        if (found.length !== split.blocks.length || found.some((n, i) => n !== i)) return null;
        if (split.css && !contextFree(split.css)) return null;
        const chains = markerChains(html, markers).map((chain) => ({ ...chain, id: this.chainId(chain.open) }));
        if (chains.length !== split.blocks.length || chains.some((c) => !c)) return null;
        return { parts, chains };
      }).catch(() => null); // compiled whole instead, where an error names the template line
      this.layouts.set(split.layout, layout);
    }
    return layout;
  }

  private chainId(open: string): number {
    let id = this.chainIds.get(open);
    if (id === undefined) this.chainIds.set(open, (id = this.chainIds.size));
    return id;
  }

  /** The block inlined as in the document, or null when juice did not keep it apart. */
  private inline(block: string, css: string, chain: Layout['chains'][number]): string | null {
    if (!css) return this.post(block);
    let id = this.cssIds.get(css);
    if (id === undefined) {
      this.cssIds.set(css, (id = this.cssIds.size));
      this.structural.set(id, byStructure(css));
    }
    const shape = this.structural.get(id) ? structureOf(block) : null;
    let out = '';
    for (const source of shape ? topLevel(shape.structure) : [block]) {
      const key = `${id}:${chain.id}\u0000${source}`;
      let inlined = this.inlined.get(key);
      if (inlined === undefined) {
        this.stats.inlined++;
        mjmlTotals.inlined++;
        // Inside its ancestors, between two comments to cut it out again; with the options MJML
        // passes to juice for the whole document.
        const wrapped = juice(`${chain.open}${START}${source}${END}${chain.close}`, { applyStyleTags: false, extraCss: css, insertPreservedExtraCss: false, removeStyleTags: false });
        const from = wrapped.indexOf(START);
        const to = wrapped.lastIndexOf(END);
        if (from < 0 || to < from) return null;
        inlined = wrapped.slice(from + START.length, to);
        this.inlined.set(key, inlined);
      }
      out += inlined;
    }
    if (shape) {
      // Values back in the order they were taken (juice keeps elements, text and attributes in order).
      let i = 0;
      out = out.replace(/\uE000/g, () => shape.values[i++] ?? STANDIN);
      if (i !== shape.values.length) return null;
    }
    return this.post(out);
  }

  /** The document from its compiled layout, or null when the layout path does not apply to it. */
  private async assemble(split: Split): Promise<string | null> {
    if (split.blocks.some(unsupported)) return null;
    const layout = await this.layoutOf(split);
    if (!layout) return null;
    let html = layout.parts[0]!;
    for (let i = 0; i < split.blocks.length; i++) {
      const block = this.inline(split.blocks[i]!, split.css, layout.chains[i]!);
      if (block === null) return null;
      html += block + layout.parts[i + 1]!;
    }
    this.stats.assembled++;
    mjmlTotals.assembled++;
    return html;
  }
}
