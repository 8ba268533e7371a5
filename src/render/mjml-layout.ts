import { randomBytes } from 'node:crypto';
import juice from 'juice';
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
 * Inline rules a block inlined on its own could apply differently: a selector with a
 * combinator whose first part could match an element of the layout around the block, or one
 * that depends on the document root.
 */
function contextFree(css: string, layoutHtml: string): boolean {
  const plain = css.replace(/\/\*[\s\S]*?\*\//g, '');
  if (/@/.test(plain)) return false;
  const layoutClasses = new Set([...layoutHtml.matchAll(/\bclass="([^"]*)"/g)].flatMap((m) => m[1]!.split(/\s+/)));
  for (const rule of plain.split('}')) {
    const selectors = rule.split('{')[0]!.trim();
    if (!selectors) continue;
    for (const selector of selectors.split(',').map((s) => s.trim())) {
      if (/:(root|scope|has)\b/i.test(selector)) return false;
      const compounds = selector.split(/\s*[>+~\s]\s*/).filter(Boolean);
      if (compounds.length === 1) continue;
      const classes = [...compounds[0]!.matchAll(/\.([\w-]+)/g)].map((m) => m[1]!);
      if (!classes.some((c) => !layoutClasses.has(c))) return false;
    }
  }
  return true;
}

interface Split {
  layout: string;
  blocks: string[];
  css: string;
}

interface Layout {
  /** Compiled layout cut at the block markers: parts[i] + block i + parts[i + 1] ... */
  parts: string[];
}

/** Bytes of a cached string (UTF-16, two bytes a character). */
const stringBytes = (s: string) => 2 * s.length + 64;

export interface LayoutStats {
  /** MJML compiles of a layout. */
  layouts: number;
  /** MJML compiles of a whole document (the check per template shape, or a document the layout path does not cover). */
  whole: number;
  /** Documents assembled from a compiled layout. */
  assembled: number;
}

/** Every LayoutCompiler of this process together (for the benchmark's compile count). */
export const mjmlTotals: LayoutStats = { layouts: 0, whole: 0, assembled: 0 };

export type MjmlCompile = (source: string, strict: boolean) => Promise<string>;

export class LayoutCompiler {
  private readonly marker = `@@dmblock${randomBytes(6).toString('hex')}_`;
  private readonly layouts = new LRUCache<string, Promise<Layout | null>>({ max: 512 });
  private readonly inlined = new LRUCache<string, string>({ maxSize: 16 * 1024 * 1024, sizeCalculation: (v, k) => stringBytes(v) + stringBytes(k) });
  /** Shapes whose layout path was compared with a whole compile. */
  private readonly checkedShapes = new Set<string>();
  /**
   * Shapes compiled with MJML's strict validation once. It checks the template's tags and
   * attributes, which digest data cannot change (it arrives escaped, inside mj-text), so later
   * compiles skip it.
   */
  private readonly validatedShapes = new Set<string>();
  private readonly cssIds = new Map<string, number>();
  /** Set when a check found a difference: every document is compiled whole from then on. */
  disabledBecause: string | null = null;
  readonly stats: LayoutStats = { layouts: 0, whole: 0, assembled: 0 };

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
        const found = [...html.matchAll(new RegExp(`${this.marker}(\\d+)@@`, 'g'))].map((m) => Number(m[1]));
        if (found.length !== split.blocks.length || found.some((n, i) => n !== i)) return null;
        if (split.css && !contextFree(split.css, html)) return null;
        return { parts };
      }).catch(() => null); // compiled whole instead, where an error names the template line
      this.layouts.set(split.layout, layout);
    }
    return layout;
  }

  private inline(block: string, css: string): string {
    if (!css) return this.post(block);
    let id = this.cssIds.get(css);
    if (id === undefined) this.cssIds.set(css, (id = this.cssIds.size));
    const key = `${id}\u0000${block}`;
    let out = this.inlined.get(key);
    if (out === undefined) {
      // The options MJML passes to juice for the whole document.
      out = this.post(juice(block, { applyStyleTags: false, extraCss: css, insertPreservedExtraCss: false, removeStyleTags: false }));
      this.inlined.set(key, out);
    }
    return out;
  }

  /** The document from its compiled layout, or null when the layout path does not apply to it. */
  private async assemble(split: Split): Promise<string | null> {
    if (split.blocks.some(unsupported)) return null;
    const layout = await this.layoutOf(split);
    if (!layout) return null;
    this.stats.assembled++;
    mjmlTotals.assembled++;
    let html = layout.parts[0]!;
    for (let i = 0; i < split.blocks.length; i++) html += this.inline(split.blocks[i]!, split.css) + layout.parts[i + 1]!;
    return html;
  }
}
