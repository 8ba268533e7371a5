/**
 * LaTeX-isms that arXiv abstracts carry into the digest (`\textbf{X}`, ``quotes'', `--`, `~`,
 * `78-85\%`, `$k$-fold`, `$\mathcal{O}(n^2)$`) turned into a small tree of typeset inline nodes,
 * so no raw `$`, backslash command or backtick quote reaches a reader.
 *
 * The symbol, letter-style and sub/superscript tables are unicodeit's (a maintained TeX-to-Unicode
 * table, also behind the Sublime/Alfred plugins): this file only walks the TeX structure (groups,
 * arguments, `^`/`_`, `\frac`, `\sqrt`) and chooses a linear form for what Unicode cannot draw.
 */
import unicodeit from 'unicodeit/ts_dist/js/data.js';
import { LinkifyIt } from 'linkify-it';

export type InlineStyle = 'bold' | 'italic' | 'code' | 'sub' | 'sup';

export type Inline =
  | { kind: 'text'; text: string }
  | { kind: 'style'; style: InlineStyle; children: Inline[] }
  | { kind: 'link'; url: string; children: Inline[] };

/**
 * Parse-time stand-ins for LaTeX opening quotes, so remark does not read ``x'' as a code span.
 * Each replaces one backtick, keeping every offset and line number of the Markdown unchanged.
 */
export const OPEN_QUOTE_MARK = '\uE000';

/** ``x'' (no backtick before the closing '') and `x' (closed by ' not followed by a letter or backtick). */
const LATEX_DOUBLE_OPEN = /``(?=(?:(?!\n[ \t]*\n)[^`])*?'')/g;
const LATEX_SINGLE_OPEN = /(?<!`)`(?=[^\s`'][^`'\n]*'(?![A-Za-z`]))/g;

/** Replaces LaTeX opening quotes in Markdown by same-length marks that Markdown does not treat as code. */
export function protectLatexQuotes(markdown: string): string {
  return markdown
    .replace(LATEX_DOUBLE_OPEN, OPEN_QUOTE_MARK + OPEN_QUOTE_MARK)
    .replace(LATEX_SINGLE_OPEN, OPEN_QUOTE_MARK);
}

const SYMBOLS = new Map<string, string>();
const LETTER_STYLES = new Map<string, string>();
for (const [tex, char] of unicodeit.replacements as string[][]) {
  if (/^\\[A-Za-z]+$/.test(tex!)) SYMBOLS.set(tex!.slice(1), char!);
  else if (/^\\math[a-z]+\{.\}$/.test(tex!)) LETTER_STYLES.set(tex!, char!);
}
const COMBINING = new Map((unicodeit.combiningmarks as string[][]).map(([tex, mark]) => [tex!.slice(1), mark!]));
const SCRIPTS = new Map(unicodeit.subsuperscripts as [string, string][]);

/** Commands whose unicodeit entry is not what a reader of an abstract expects, or that it lacks. */
const OVERRIDES: Record<string, string> = {
  cdot: '·', star: '⋆', ast: '∗', textbackslash: '\\', textasciitilde: '~', textendash: '–', textemdash: '—',
  textquoteleft: '‘', textquoteright: '’', textquotedblleft: '“', textquotedblright: '”', textbullet: '•',
  textdegree: '°', degree: '°', textregistered: '®', texttrademark: '™', textcopyright: '©', checkmark: '✓',
  LaTeX: 'LaTeX', TeX: 'TeX', ldots: '…', dots: '…', ie: 'i.e.', eg: 'e.g.', etal: 'et al.',
};
const ESCAPED_CHARS: Record<string, string> = {
  '%': '%', '&': '&', _: '_', '#': '#', $: '$', '{': '{', '}': '}', '\\': ' ', ',': '\u2009', ';': ' ', ':': ' ',
  ' ': ' ', '!': '', '-': '', '/': '', '>': ' ', '|': '‖',
};
/** Operators written upright, as LaTeX does (`\log n` reads "log n"). */
const OPERATORS = new Set([
  'log', 'ln', 'exp', 'sin', 'cos', 'tan', 'max', 'min', 'arg', 'argmax', 'argmin', 'sup', 'inf', 'lim',
  'det', 'dim', 'ker', 'Pr', 'gcd', 'deg', 'tanh', 'sigmoid', 'softmax', 'mod', 'bmod',
]);
const STYLES: Record<string, InlineStyle | 'plain'> = {
  textbf: 'bold', mathbf: 'bold', boldsymbol: 'bold', bm: 'bold', bf: 'bold',
  textit: 'italic', emph: 'italic', textsl: 'italic', it: 'italic', mathit: 'italic',
  texttt: 'code', mathtt: 'code', tt: 'code',
  textrm: 'plain', textnormal: 'plain', textsf: 'plain', textsc: 'plain', textup: 'plain', textmd: 'plain',
  mathrm: 'plain', mathsf: 'plain', mathnormal: 'plain', operatorname: 'plain', text: 'plain', mbox: 'plain',
  hbox: 'plain', underline: 'plain', uline: 'plain', textsuperscript: 'sup', textsubscript: 'sub',
};
const UPRIGHT_MATH = new Set(['mathrm', 'operatorname', 'mathsf', 'mathup']);
/** Letter alphabets with Unicode code points (𝒜, ℝ, 𝔉); mathscr and mathds borrow the closest one. */
const ALPHABETS: Record<string, string> = { mathcal: 'mathcal', mathscr: 'mathcal', mathbb: 'mathbb', mathds: 'mathds', mathfrak: 'mathfrak' };
/** Commands whose argument is a reference, not reader text. */
const DROPPED_WITH_ARGUMENT = new Set(['cite', 'citep', 'citet', 'ref', 'eqref', 'label', 'vspace', 'hspace', 'footnotemark']);
/** Size and delimiter helpers: the delimiter after them is kept, the command dropped. */
const DROPPED = new Set(['left', 'right', 'big', 'Big', 'bigg', 'Bigg', 'bigl', 'bigr', 'Bigl', 'Bigr', 'middle',
  'displaystyle', 'textstyle', 'scriptstyle', 'limits', 'nolimits', 'noindent', 'centering', 'small', 'large',
  'footnotesize', 'normalsize', 'mathstrut', 'strut', 'nonumber', 'notag', 'xspace', 'protect', 'relax']);

const NBSP = '\u00A0';
const linkify = new LinkifyIt({ fuzzyLink: false, fuzzyEmail: false, '---': true });

class Reader {
  i = 0;
  constructor(readonly src: string) {}
  get done(): boolean {
    return this.i >= this.src.length;
  }
  peek(offset = 0): string {
    return this.src[this.i + offset] ?? '';
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\n') this.i++;
  }
  /** `{...}` with balanced braces (escaped braces do not count); null when no group starts here. */
  group(open = '{', close = '}'): string | null {
    if (this.peek() !== open) return null;
    let depth = 0;
    for (let j = this.i; j < this.src.length; j++) {
      const ch = this.src[j];
      if (ch === '\\') {
        j++;
        continue;
      }
      if (ch === open) depth++;
      else if (ch === close && --depth === 0) {
        const body = this.src.slice(this.i + 1, j);
        this.i = j + 1;
        return body;
      }
    }
    return null;
  }
  /** A command's argument: a group, a command, or one character (`\frac12`, `x^2`, `\sqrt\pi`). */
  argument(): string {
    this.skipSpaces();
    const group = this.group();
    if (group !== null) return group;
    if (this.peek() === '\\') {
      const name = /^\\(?:[A-Za-z]+|.)/.exec(this.src.slice(this.i))![0];
      this.i += name.length;
      return name;
    }
    const ch = [...this.src.slice(this.i, this.i + 2)][0] ?? '';
    this.i += ch.length;
    return ch;
  }
  commandName(): string {
    const name = /^[A-Za-z]+\*?|^[\s\S]/.exec(this.src.slice(this.i + 1))?.[0] ?? '';
    this.i += 1 + name.length;
    return name.replace(/\*$/, '');
  }
}

class Out {
  readonly nodes: Inline[] = [];
  text(text: string): void {
    if (!text) return;
    const last = this.nodes[this.nodes.length - 1];
    if (last?.kind === 'text') last.text += text;
    else this.nodes.push({ kind: 'text', text });
  }
  style(style: InlineStyle, children: Inline[]): void {
    if (children.length) this.nodes.push({ kind: 'style', style, children });
  }
  add(nodes: Inline[]): void {
    for (const node of nodes) {
      if (node.kind === 'text') this.text(node.text);
      else this.nodes.push(node);
    }
  }
}

/** The plain characters of a node list (what a reader sees without styles). */
export function plainText(nodes: readonly Inline[]): string {
  return nodes.map((n) => (n.kind === 'text' ? n.text : plainText(n.children))).join('');
}

/** A fraction or root operand needs parentheses unless it is one number, letter or symbol. */
function operand(nodes: Inline[]): Inline[] {
  const text = plainText(nodes).trim();
  if (/^(?:[\p{L}\p{N}.]+|.)$/u.test(text) || /^\(.*\)$/.test(text)) return nodes;
  return [{ kind: 'text', text: '(' }, ...nodes, { kind: 'text', text: ')' }];
}

function alphabet(font: string, body: string): string | null {
  const chars = [...body.trim()];
  const mapped = chars.map((c) => LETTER_STYLES.get(`\\${font}{${c}}`) ?? (/[0-9]/.test(c) ? c : undefined));
  return chars.length && mapped.every(Boolean) ? mapped.join('') : null;
}

function accent(mark: string, nodes: Inline[]): Inline[] {
  const text = plainText(nodes);
  // A combining mark over one character is exact; over longer text it would sit on one letter only.
  return [...text].length === 1 ? [{ kind: 'text', text: (text + mark).normalize('NFC') }] : nodes;
}

function command(r: Reader, out: Out, math: boolean): void {
  const name = r.commandName();
  if (name in ESCAPED_CHARS && !/[A-Za-z]/.test(name)) return out.text(ESCAPED_CHARS[name]!);
  const style = STYLES[name];
  if (style !== undefined) {
    // Upright: text commands, and the math ones that set words (\mathrm{MLE}, \operatorname{argmax}).
    const textMode = name === 'text' || name === 'mbox' || name === 'hbox' || name.startsWith('text') || UPRIGHT_MATH.has(name);
    const inner = convert(r.argument(), math && !textMode);
    if (style === 'plain') return out.add(inner);
    return out.style(style, inner);
  }
  if (name in ALPHABETS) {
    const body = r.argument();
    const letters = alphabet(ALPHABETS[name]!, body);
    return letters ? out.text(letters) : out.add(convert(body, math));
  }
  switch (name) {
    case 'frac': case 'dfrac': case 'tfrac': case 'cfrac': {
      const num = operand(convert(r.argument(), true));
      const den = operand(convert(r.argument(), true));
      return out.add([...num, { kind: 'text', text: '/' }, ...den]);
    }
    case 'binom': case 'tbinom': case 'dbinom': {
      const n = convert(r.argument(), true);
      const k = convert(r.argument(), true);
      return out.add([{ kind: 'text', text: 'C(' }, ...n, { kind: 'text', text: ', ' }, ...k, { kind: 'text', text: ')' }]);
    }
    case 'sqrt': {
      const degree = r.group('[', ']');
      const body = operand(convert(r.argument(), true));
      if (degree !== null) out.style('sup', convert(degree, true));
      return out.add([{ kind: 'text', text: '√' }, ...body]);
    }
    case 'url': {
      const url = r.argument().trim();
      return out.nodes.push({ kind: 'link', url, children: [{ kind: 'text', text: url }] }), undefined;
    }
    case 'href': {
      const url = r.argument().trim();
      const label = convert(r.argument(), false);
      return out.nodes.push({ kind: 'link', url, children: label.length ? label : [{ kind: 'text', text: url }] }), undefined;
    }
    case 'footnote':
      return out.add([{ kind: 'text', text: ' (' }, ...convert(r.argument(), false), { kind: 'text', text: ')' }]);
    case 'not': {
      const next = convert(r.argument(), true);
      return out.text(`${plainText(next)}\u0338`.normalize('NFC'));
    }
  }
  if (DROPPED_WITH_ARGUMENT.has(name)) {
    r.group('[', ']');
    r.argument();
    return;
  }
  if (DROPPED.has(name)) {
    if (name === 'left' || name === 'right') {
      r.skipSpaces();
      if (r.peek() === '.') r.i++;
    }
    return;
  }
  const mark = COMBINING.get(name) ?? TEXT_ACCENTS[name];
  if (mark) return out.add(accent(mark, convert(r.argument(), math)));
  if (OPERATORS.has(name)) return out.text(name === 'bmod' ? ' mod ' : name);
  const symbol = OVERRIDES[name] ?? SYMBOLS.get(name);
  if (symbol !== undefined) {
    out.text(symbol);
    // `\times{}`, `\LaTeX\ ` and `\ldots ` leave an empty group or a space that TeX eats.
    if (r.src.startsWith('{}', r.i)) r.i += 2;
    return;
  }
  // An unknown command: its argument (if any) is the reader's text; the name itself is dropped
  // unless nothing follows, in which case it is the best guess of what was meant.
  r.skipSpaces();
  if (r.peek() === '{') return out.add(convert(r.argument(), math));
  if (/^[A-Za-z]+$/.test(name)) out.text(name);
}

/** Text-mode accents (`\'e`, `\"o`, `\c{c}`), when they reach us un-escaped (math spans, titles). */
const TEXT_ACCENTS: Record<string, string> = {
  "'": '\u0301', '`': '\u0300', '^': '\u0302', '"': '\u0308', '~': '\u0303', '=': '\u0304', '.': '\u0307',
  c: '\u0327', v: '\u030C', u: '\u0306', H: '\u030B', r: '\u030A', k: '\u0328',
};

function script(r: Reader, out: Out, kind: 'sup' | 'sub'): void {
  const body = r.argument();
  if (kind === 'sup' && body === '\\prime') return out.text('′');
  out.style(kind, convert(body, true));
}

/** Unicode for a sub/superscript when every character has one (x², xᵢ), else null. */
export function scriptChars(kind: 'sup' | 'sub', text: string): string | null {
  const prefix = kind === 'sup' ? '^' : '_';
  const chars = [...text].map((c) => SCRIPTS.get(prefix + (c === '∗' ? '*' : c)) ?? (c === ' ' ? '' : undefined));
  return text.length && chars.every((c) => c !== undefined) ? chars.join('') : null;
}

function mathChar(ch: string, out: Out): void {
  if (ch === '-') return out.text('−');
  if (ch === "'") return out.text('′');
  if (ch === '*') return out.text('∗');
  if (ch === '~') return out.text(NBSP);
  if (ch === '{' || ch === '}') return;
  out.text(ch);
}

function textChar(r: Reader, out: Out, state: { singleOpen: boolean }): void {
  const rest = r.src.slice(r.i);
  let m: RegExpExecArray | null;
  if ((m = /^(?:``|\uE000\uE000)/.exec(rest))) return (r.i += 2), out.text('“');
  if ((m = /^(?:`|\uE000)/.exec(rest))) return r.i++, (state.singleOpen = true), out.text('‘');
  if (rest.startsWith("''")) return (r.i += 2), out.text('”');
  if (rest.startsWith("'") && state.singleOpen && !/^'[A-Za-z]/.test(rest)) {
    state.singleOpen = false;
    return r.i++, out.text('’');
  }
  if (rest.startsWith('---')) return (r.i += 3), out.text('—');
  if (rest.startsWith('--')) return (r.i += 2), out.text('–');
  const ch = r.peek();
  r.i++;
  // `~` is a tie after a word (Fig.~3, et al.~[4]); " ~50%" is a writer's "about", kept as written.
  if (ch === '~') return out.text(r.i >= 2 && /\S/.test(r.src[r.i - 2]!) ? NBSP : '~');
  if (ch === '{' || ch === '}') return;
  out.text(ch);
}

/** Inline math `$...$` or `\(...\)` inside text mode; a lone `$` (a price) stays as written. */
function inlineMath(r: Reader, out: Out): boolean {
  const rest = r.src.slice(r.i);
  const m = /^\$(?!\s)((?:\\.|[^$\\])+?)(?<!\s)\$(?!\d)/.exec(rest) ?? /^\\\(([\s\S]+?)\\\)/.exec(rest);
  if (!m) return false;
  r.i += m[0].length;
  out.add(convertMath(m[1]!));
  return true;
}

/** Converts a run of TeX source; `math` selects math mode (scripts, upright operators, italic letters). */
function convert(src: string, math: boolean): Inline[] {
  const r = new Reader(src);
  const out = new Out();
  const state = { singleOpen: false };
  const links = math ? [] : (linkify.match(src) ?? []);
  while (!r.done) {
    const ch = r.peek();
    const link = links.find((l) => l.index === r.i);
    if (link) {
      out.nodes.push({ kind: 'link', url: link.url, children: [{ kind: 'text', text: link.raw }] });
      r.i = link.lastIndex;
      continue;
    }
    if (ch === '\\') {
      if (!math && r.peek(1) === '(' && inlineMath(r, out)) continue;
      command(r, out, math);
      continue;
    }
    if (math) {
      if (ch === '^' || ch === '_') {
        r.i++;
        script(r, out, ch === '^' ? 'sup' : 'sub');
        continue;
      }
      if (/[A-Za-z]/.test(ch)) {
        // Variables are italic, as in TeX; the text part simply shows the letters.
        const word = /^[A-Za-z]+/.exec(r.src.slice(r.i))![0];
        r.i += word.length;
        out.style('italic', [{ kind: 'text', text: word }]);
        continue;
      }
      if (ch === '{') {
        out.add(convert(r.group() ?? (r.i++, ''), true));
        continue;
      }
      r.i++;
      mathChar(ch, out);
      continue;
    }
    if (ch === '$' && inlineMath(r, out)) continue;
    textChar(r, out, state);
  }
  return out.nodes;
}

/** TeX math source (the inside of `$...$`) to inline nodes. */
export function convertMath(src: string): Inline[] {
  return convert(src.replace(/\s+/g, ' ').trim(), true);
}

/** Text with LaTeX-isms (text mode, may contain `$...$`) to inline nodes. */
export function convertLatex(src: string): Inline[] {
  return convert(src, false);
}
