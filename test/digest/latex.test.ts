import { describe, expect, it } from 'vitest';
import { typesetMarkdown } from '../../src/digest/parse.js';
import { protectLatexQuotes } from '../../src/digest/latex.js';

/**
 * Every LaTeX span of the seed digest (grep the seed for `$`, `\command`, ``...'' and `--`),
 * as written and as a reader must see it in the HTML and the text part.
 */
const SEED_SPANS: { tex: string; html: string; text: string }[] = [
  {
    tex: String.raw`also known as thinking-\textit{with}-images in chain-of-thought`,
    html: 'also known as thinking-<em>with</em>-images in chain-of-thought',
    text: 'also known as thinking-with-images in chain-of-thought',
  },
  {
    tex: String.raw`We introduce \textbf{TIR-Bench}, a comprehensive benchmark`,
    html: 'We introduce <strong>TIR-Bench</strong>, a comprehensive benchmark',
    text: 'We introduce TIR-Bench, a comprehensive benchmark',
  },
  {
    tex: 'we present SIMS-V -- a systematic data-generation framework',
    html: 'we present SIMS-V – a systematic data-generation framework',
    text: 'we present SIMS-V – a systematic data-generation framework',
  },
  {
    // Two ``quotes'' in one paragraph: remark read everything between them as one code span.
    tex: "Designers should therefore try to ``game'' their own benchmarks first, using diagnostic tools. Effective diagnosis requires directly ``training on the test set'' -- probing the released test set",
    html: 'Designers should therefore try to “game” their own benchmarks first, using diagnostic tools. Effective diagnosis requires directly “training on the test set” – probing the released test set',
    text: 'Designers should therefore try to “game” their own benchmarks first, using diagnostic tools. Effective diagnosis requires directly “training on the test set” – probing the released test set',
  },
  {
    tex: "we diagnose benchmark susceptibility using a ``Test-set Stress-Test'' (TsT) methodology",
    html: 'we diagnose benchmark susceptibility using a “Test-set Stress-Test” (TsT) methodology',
    text: 'we diagnose benchmark susceptibility using a “Test-set Stress-Test” (TsT) methodology',
  },
  {
    tex: 'fine-tuning a powerful Large Language Model via $k$-fold cross-validation',
    html: 'fine-tuning a powerful Large Language Model via <em>k</em>-fold cross-validation',
    text: 'fine-tuning a powerful Large Language Model via k-fold cross-validation',
  },
  {
    tex: 'and assign each sample a bias score $s(x)$. We complement this',
    html: 'and assign each sample a bias score <em>s</em>(<em>x</em>). We complement this',
    text: 'and assign each sample a bias score s(x). We complement this',
  },
  {
    tex: "by filtering high-bias samples using an ``Iterative Bias Pruning'' (IBP) procedure",
    html: 'by filtering high-bias samples using an “Iterative Bias Pruning” (IBP) procedure',
    text: 'by filtering high-bias samples using an “Iterative Bias Pruning” (IBP) procedure',
  },
  {
    tex: 'Applying this framework to four benchmarks -- VSI-Bench, CV-Bench, MMMU, and VideoMME -- we uncover',
    html: 'Applying this framework to four benchmarks – VSI-Bench, CV-Bench, MMMU, and VideoMME – we uncover',
    text: 'Applying this framework to four benchmarks – VSI-Bench, CV-Bench, MMMU, and VideoMME – we uncover',
  },
  {
    tex: String.raw`(e.g., text/image/video-conditioned generation $\rightarrow$ multi-round editing $\rightarrow$ object segmentation $\rightarrow$ compositional synthesis)`,
    html: '(e.g., text/image/video-conditioned generation → multi-round editing → object segmentation → compositional synthesis)',
    text: '(e.g., text/image/video-conditioned generation → multi-round editing → object segmentation → compositional synthesis)',
  },
  {
    tex: String.raw`achieving a new state-of-the-art with an 8.2\% absolute improvement`,
    html: 'achieving a new state-of-the-art with an 8.2% absolute improvement',
    text: 'achieving a new state-of-the-art with an 8.2% absolute improvement',
  },
  {
    tex: String.raw`best method and more than 4$\times$ less condensation time.`,
    html: 'best method and more than 4× less condensation time.',
    text: 'best method and more than 4× less condensation time.',
  },
  {
    tex: String.raw`benchmarks (78-85\% accuracy on MMMU, MathVista). Yet`,
    html: 'benchmarks (78-85% accuracy on MMMU, MathVista). Yet',
    text: 'benchmarks (78-85% accuracy on MMMU, MathVista). Yet',
  },
  {
    tex: String.raw`we introduce \textbf{mmJEE-Eval}, a multimodal bilingual (English and Hindi) benchmark`,
    html: 'we introduce <strong>mmJEE-Eval</strong>, a multimodal bilingual (English and Hindi) benchmark',
    text: 'we introduce mmJEE-Eval, a multimodal bilingual (English and Hindi) benchmark',
  },
  {
    tex: String.raw`achieve 77-84\% accuracy on held-out 2025 questions, open-source models plateau at 37-45\% despite`,
    html: 'achieve 77-84% accuracy on held-out 2025 questions, open-source models plateau at 37-45% despite',
    text: 'achieve 77-84% accuracy on held-out 2025 questions, open-source models plateau at 37-45% despite',
  },
  {
    tex: String.raw`(up to 100\% pass@3 scores) ... (GPT-5 fixes just 5.2\% errors)`,
    html: '(up to 100% pass@3 scores) ... (GPT-5 fixes just 5.2% errors)',
    text: '(up to 100% pass@3 scores) ... (GPT-5 fixes just 5.2% errors)',
  },
  {
    tex: String.raw`with two MLLMs (\texttt{LLaVA-1.5-7B} and \texttt{CogVLM2}) show that`,
    html: 'with two MLLMs (<code>LLaVA-1.5-7B</code> and <code>CogVLM2</code>) show that',
    text: 'with two MLLMs (LLaVA-1.5-7B and CogVLM2) show that',
  },
];

/** Forms the seed does not have but real abstracts do (the held-back kind of input). */
const OTHER_SPANS: { tex: string; html: string; text: string }[] = [
  { tex: String.raw`$\alpha \leq \beta$, $\theta^\ast$, $\lambda \in [0, 1]$`, html: 'α ≤ β, θ<sup>∗</sup>, λ ∈ [0, 1]', text: 'α ≤ β, θ*, λ ∈ [0, 1]' },
  { tex: String.raw`$\mathcal{O}(n^2)$ in $\mathbb{R}^{d}$`, html: '𝒪(<em>n</em><sup>2</sup>) in ℝ<sup><em>d</em></sup>', text: '𝒪(n²) in ℝᵈ' },
  { tex: String.raw`$x_i$, $x_{t+1}$, $a_b$, $W_{\text{out}}$`, html: '<em>x</em><sub><em>i</em></sub>, <em>x</em><sub><em>t</em>+1</sub>, <em>a</em><sub><em>b</em></sub>, <em>W</em><sub>out</sub>', text: 'xᵢ, xₜ₊₁, a_b, Wₒᵤₜ' },
  { tex: String.raw`$\frac{1}{2}$ and $\frac{a+b}{n}$ and $\sqrt{d_k}$ and $\sqrt[3]{8}$`, html: '1/2 and (<em>a</em>+<em>b</em>)/<em>n</em> and √<em>d</em><sub><em>k</em></sub> and <sup>3</sup>√8', text: '1/2 and (a+b)/n and √dₖ and ³√8' },
  { tex: String.raw`$\sum_{i=1}^{N} \log p(x_i)$`, html: '∑<sub><em>i</em>=1</sub><sup><em>N</em></sup> log <em>p</em>(<em>x</em><sub><em>i</em></sub>)', text: '∑ᵢ₌₁ᴺ log p(xᵢ)' },
  { tex: String.raw`a $10^{-3}$ learning rate, $\geq 90\%$, $\sim$2$\times$ faster`, html: 'a 10<sup>−3</sup> learning rate, ≥ 90%, ∼2× faster', text: 'a 10⁻³ learning rate, ≥ 90%, ∼2× faster' },
  { tex: String.raw`\emph{zero-shot}, \textit{i.e.}, see Fig.~3 and Table~\ref{tab:x}`, html: '<em>zero-shot</em>, <em>i.e.</em>, see Fig.\u00a03 and Table', text: 'zero-shot, i.e., see Fig.\u00a03 and Table' },
  { tex: String.raw`Code: \url{https://github.com/a/b--c}, demo at \href{https://x.org/demo}{our page}.`, html: 'Code: <a href="https://github.com/a/b--c">https://github.com/a/b--c</a>, demo at <a href="https://x.org/demo">our page</a>.', text: 'Code: https://github.com/a/b--c, demo at our page (https://x.org/demo).' },
  { tex: 'Data at https://huggingface.co/datasets/x_y/z~1.', html: 'Data at <a href="https://huggingface.co/datasets/x_y/z~1">https://huggingface.co/datasets/x_y/z~1</a>.', text: 'Data at https://huggingface.co/datasets/x_y/z~1.' },
  { tex: "a `weak' teacher and a ``strong'' student --- don't worry", html: 'a ‘weak’ teacher and a “strong” student — don&#39;t worry', text: 'a ‘weak’ teacher and a “strong” student — don\'t worry' },
  // Markdown has already unescaped `\{`: a brace left in text mode is TeX grouping.
  { tex: String.raw`\_ \& \# \% \{set\}`, html: '_ &amp; # % set', text: '_ & # % set' },
  { tex: 'It costs $5 and $10 a month', html: 'It costs $5 and $10 a month', text: 'It costs $5 and $10 a month' },
  { tex: 'run `pip install x` first', html: 'run <code>pip install x</code> first', text: 'run pip install x first' },
  { tex: String.raw`$\hat{y}$, $\tilde{x}$, $\|x\|_2$, $\mathbf{W}$`, html: 'ŷ, x̃, ‖<em>x</em>‖<sub>2</sub>, <strong><em>W</em></strong>', text: 'ŷ, x̃, ‖x‖₂, W' },
  { tex: String.raw`$a_i$ and $b_j$ stay math, not *emphasis*`, html: '<em>a</em><sub><em>i</em></sub> and <em>b</em><sub><em>j</em></sub> stay math, not <em>emphasis</em>', text: 'aᵢ and bⱼ stay math, not emphasis' },
  { tex: String.raw`$W^{\top} x$, $\hat{\theta}_{\mathrm{MLE}}$, $\operatorname{arg\,max}_y$`, html: '<em>W</em><sup>⊤</sup> <em>x</em>, θ̂<sub>MLE</sub>, arg\u2009max<sub><em>y</em></sub>', text: 'W^⊤ x, θ̂_(MLE), arg\u2009max_y' },
  { tex: String.raw`$\mathbb{E}_{x \sim p}[f(x)]$, $\mathcal{L}_{\text{CE}}$, $\sqrt{\frac{1}{n}}$, $x^{2n+1}$`, html: '𝔼<sub><em>x</em> ∼ <em>p</em></sub>[<em>f</em>(<em>x</em>)], ℒ<sub>CE</sub>, √(1/<em>n</em>), <em>x</em><sup>2<em>n</em>+1</sup>', text: '𝔼_(x ∼ p)[f(x)], ℒ_(CE), √(1/n), x²ⁿ⁺¹' },
  { tex: String.raw`<script>x</script> $<b>$`, html: '&lt;script&gt;x&lt;/script&gt; &lt;<em>b</em>&gt;', text: '<script>x</script> <b>' },
];

describe('LaTeX typesetting', () => {
  it.each(SEED_SPANS)('types the seed span $tex', ({ tex, html, text }) => {
    expect(typesetMarkdown(tex)).toEqual({ html, text });
  });

  it.each(OTHER_SPANS)('types $tex', ({ tex, html, text }) => {
    expect(typesetMarkdown(tex)).toEqual({ html, text });
  });

  it('keeps offsets when it protects LaTeX quotes from Markdown, and leaves real code spans alone', () => {
    const md = "try to ``game'' it, ``x'' and `code` or `y' here";
    const protectedMd = protectLatexQuotes(md);
    expect(protectedMd.length).toBe(md.length);
    expect(protectedMd).toContain('`code`');
    expect(protectedMd).not.toMatch(/``/);
  });
});
