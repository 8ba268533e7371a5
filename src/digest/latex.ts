/**
 * LaTeX-isms that arXiv abstracts carry into the digest (`\textbf{X}`, `\emph{X}`, `$\times$`,
 * `78-85\%`) turned into styled runs of plain text, so no raw backslash reaches a reader.
 * Markdown already unescapes `\%`, `\_`, `\&` (ASCII punctuation); this handles the rest.
 */

export type RunStyle = 'plain' | 'bold' | 'italic' | 'code';

export interface Run {
  text: string;
  style: RunStyle;
}

const STYLE_COMMANDS: Record<string, RunStyle> = {
  textbf: 'bold',
  mathbf: 'bold',
  textit: 'italic',
  emph: 'italic',
  mathit: 'italic',
  textsl: 'italic',
  texttt: 'code',
  mathtt: 'code',
  textrm: 'plain',
  mathrm: 'plain',
  text: 'plain',
  textsc: 'plain',
  mathcal: 'plain',
  mathbb: 'plain',
  operatorname: 'plain',
};

/** Symbols seen in abstracts; an unknown command keeps its name without the backslash. */
const SYMBOLS: Record<string, string> = {
  times: '×', cdot: '·', div: '÷', pm: '±', mp: '∓',
  rightarrow: '→', to: '→', leftarrow: '←', Rightarrow: '⇒', Leftarrow: '⇐',
  leftrightarrow: '↔', uparrow: '↑', downarrow: '↓', mapsto: '↦',
  leq: '≤', le: '≤', geq: '≥', ge: '≥', neq: '≠', ne: '≠', approx: '≈', sim: '~',
  simeq: '≃', equiv: '≡', propto: '∝', infty: '∞', ll: '≪', gg: '≫',
  in: '∈', notin: '∉', subset: '⊂', subseteq: '⊆', cup: '∪', cap: '∩',
  sum: 'Σ', prod: 'Π', int: '∫', partial: '∂', nabla: '∇', sqrt: '√',
  alpha: 'α', beta: 'β', gamma: 'γ', delta: 'δ', epsilon: 'ε', varepsilon: 'ε',
  zeta: 'ζ', eta: 'η', theta: 'θ', lambda: 'λ', mu: 'μ', pi: 'π', rho: 'ρ',
  sigma: 'σ', tau: 'τ', phi: 'φ', varphi: 'φ', chi: 'χ', psi: 'ψ', omega: 'ω',
  Gamma: 'Γ', Delta: 'Δ', Theta: 'Θ', Lambda: 'Λ', Pi: 'Π', Sigma: 'Σ', Phi: 'Φ',
  Psi: 'Ψ', Omega: 'Ω', ldots: '…', dots: '…', cdots: '⋯', circ: '°', degree: '°',
  checkmark: '✓', star: '*', ast: '*', prime: '′', quad: ' ', qquad: ' ',
  textasciitilde: '~', textbackslash: '\\', textendash: '–', textemdash: '—',
  '%': '%', '&': '&', '_': '_', '#': '#', '$': '$', '{': '{', '}': '}', ',': ' ', ';': ' ', ' ': ' ',
};

const SUPERSCRIPT: Record<string, string> = {
  '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹',
  '+': '⁺', '-': '⁻', n: 'ⁿ', i: 'ⁱ', '*': '*', T: 'ᵀ',
};

/** Reads a `{...}` group starting at `i` (which must be `{`), returns its content and the index after it. */
function readGroup(src: string, i: number): { body: string; end: number } | null {
  if (src[i] !== '{') return null;
  let depth = 0;
  for (let j = i; j < src.length; j++) {
    const ch = src[j];
    if (ch === '\\') {
      j++;
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return { body: src.slice(i + 1, j), end: j + 1 };
  }
  return null;
}

function pushRun(runs: Run[], text: string, style: RunStyle): void {
  if (!text) return;
  const last = runs[runs.length - 1];
  if (last && last.style === style) last.text += text;
  else runs.push({ text, style });
}

function script(body: string): string {
  const mapped = [...body].map((c) => SUPERSCRIPT[c]);
  return mapped.every(Boolean) ? mapped.join('') : `^${body}`;
}

function convert(src: string, style: RunStyle, runs: Run[], inMath: boolean): void {
  let buf = '';
  const flush = () => {
    pushRun(runs, buf, style);
    buf = '';
  };
  for (let i = 0; i < src.length; ) {
    const ch = src[i]!;
    if (ch === '$') {
      // A `$...$` span: convert its inside as math. A lone `$` (a price) stays as it is.
      const close = src.indexOf('$', i + 1);
      if (!inMath && close > i + 1) {
        flush();
        convert(src.slice(i + 1, close), style, runs, true);
        i = close + 1;
        continue;
      }
      if (inMath) {
        i++;
        continue;
      }
      buf += ch;
      i++;
      continue;
    }
    if (ch === '\\') {
      const name = /^[A-Za-z]+/.exec(src.slice(i + 1))?.[0] ?? src[i + 1] ?? '';
      let next = i + 1 + name.length;
      const runStyle = STYLE_COMMANDS[name];
      if (runStyle !== undefined) {
        while (src[next] === ' ') next++;
        const group = readGroup(src, next);
        if (group) {
          flush();
          convert(group.body, runStyle === 'plain' ? style : runStyle, runs, inMath);
          i = group.end;
          continue;
        }
      }
      const symbol = SYMBOLS[name];
      buf += symbol ?? name;
      // `\times{}` or `\LaTeX\ ` leave an empty group or escaped space behind: drop it.
      if (src.startsWith('{}', next)) next += 2;
      i = next;
      continue;
    }
    if (inMath && ch === '^') {
      const group = readGroup(src, i + 1);
      if (group) {
        buf += script(group.body);
        i = group.end;
      } else {
        buf += script(src[i + 1] ?? '');
        i += 2;
      }
      continue;
    }
    if (inMath && ch === '_') {
      const group = readGroup(src, i + 1);
      buf += group ? group.body : (src[i + 1] ?? '');
      i = group ? group.end : i + 2;
      continue;
    }
    if (inMath && (ch === '{' || ch === '}')) {
      i++;
      continue;
    }
    buf += ch;
    i++;
  }
  flush();
}

/** Splits text with LaTeX-isms into styled runs with the markup removed. */
export function latexToRuns(src: string, style: RunStyle = 'plain'): Run[] {
  const runs: Run[] = [];
  convert(src, style, runs, false);
  return runs;
}
