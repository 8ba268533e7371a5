import type { PhrasingContent, RootContent } from 'mdast';
import { escapeHtml, isSafeUrl } from './html.js';
import { convertLatex, convertMath, scriptChars, type Inline, type InlineStyle } from './latex.js';
import type { RichText } from './types.js';

const TAGS: Record<InlineStyle, string> = { bold: 'strong', italic: 'em', code: 'code', sub: 'sub', sup: 'sup' };

type MdNode = PhrasingContent | RootContent;

/** Typeset inline nodes as escaped HTML. */
export function inlineHtml(nodes: readonly Inline[]): string {
  return nodes
    .map((node) => {
      if (node.kind === 'text') return escapeHtml(node.text);
      const inner = inlineHtml(node.children);
      if (node.kind === 'link') return isSafeUrl(node.url) ? `<a href="${escapeHtml(node.url)}">${inner}</a>` : inner;
      return `<${TAGS[node.style]}>${inner}</${TAGS[node.style]}>`;
    })
    .join('');
}

/** Typeset inline nodes as plain text: scripts in Unicode where it has them (x², xᵢ), else x^(n+1). */
export function inlineText(nodes: readonly Inline[]): string {
  return nodes
    .map((node) => {
      if (node.kind === 'text') return node.text;
      const inner = inlineText(node.children);
      if (node.kind === 'link') return inner === node.url ? inner : `${inner} (${node.url})`;
      if (node.style === 'sub' || node.style === 'sup') {
        const unicode = scriptChars(node.style, inner);
        if (unicode !== null) return unicode;
        const mark = node.style === 'sup' ? '^' : '_';
        return [...inner].length === 1 ? mark + inner : `${mark}(${inner})`;
      }
      return inner;
    })
    .join('');
}

function addInline(out: RichText, nodes: Inline[]): void {
  out.text += inlineText(nodes);
  out.html += inlineHtml(nodes);
}

function wrapped(out: RichText, tag: string, inner: RichText): void {
  out.text += inner.text;
  out.html += `<${tag}>${inner.html}</${tag}>`;
}

function addNodes(out: RichText, nodes: readonly MdNode[]): void {
  for (const node of nodes) {
    switch (node.type) {
      case 'text':
      case 'html':
        // Raw HTML in a digest is shown as text, never passed through.
        addInline(out, convertLatex(node.value));
        break;
      case 'inlineMath':
      case 'math':
        // remark-math takes any `$...$`; one that opens or closes on a space is prose ("$5 and $10").
        if (/^\s|\s$/.test(node.value) && node.type === 'inlineMath') addInline(out, convertLatex(`$${node.value}$`));
        else addInline(out, convertMath(node.value));
        break;
      case 'inlineCode':
        // Code is shown as written: no LaTeX conversion inside it.
        wrapped(out, 'code', { text: node.value, html: escapeHtml(node.value) });
        break;
      case 'emphasis':
      case 'strong':
      case 'delete': {
        const inner: RichText = { text: '', html: '' };
        addNodes(inner, node.children);
        wrapped(out, node.type === 'emphasis' ? 'em' : node.type === 'strong' ? 'strong' : 's', inner);
        break;
      }
      case 'link': {
        const inner: RichText = { text: '', html: '' };
        addNodes(inner, node.children);
        out.text += inner.text === node.url ? inner.text : `${inner.text} (${node.url})`;
        out.html += isSafeUrl(node.url) ? `<a href="${escapeHtml(node.url)}">${inner.html}</a>` : inner.html;
        break;
      }
      case 'break':
        out.text += '\n';
        out.html += '<br>';
        break;
      case 'image':
        addInline(out, convertLatex(node.alt ?? ''));
        break;
      case 'paragraph':
      case 'heading':
      case 'listItem':
      case 'list':
      case 'blockquote':
        if (out.text) {
          out.text += '\n\n';
          out.html += '<br><br>';
        }
        addNodes(out, node.children as PhrasingContent[]);
        break;
      default:
        if ('value' in node && typeof node.value === 'string') addInline(out, convertLatex(node.value));
        else if ('children' in node) addNodes(out, node.children as PhrasingContent[]);
    }
  }
}

/** Inline Markdown (with LaTeX-isms) to clean text and escaped HTML. */
export function toRichText(nodes: readonly MdNode[]): RichText {
  const out: RichText = { text: '', html: '' };
  addNodes(out, nodes);
  return { text: out.text.replace(/[ \t]+/g, ' ').trim(), html: out.html.replace(/[ \t]+/g, ' ').trim() };
}

export function joinRichText(parts: RichText[]): RichText {
  return {
    text: parts.map((p) => p.text).join('\n\n'),
    html: parts.map((p) => p.html).join('<br><br>'),
  };
}
