import type { PhrasingContent, RootContent } from 'mdast';
import { escapeHtml, isSafeUrl } from './html.js';
import { latexToRuns, type RunStyle } from './latex.js';
import type { RichText } from './types.js';

const TAGS: Record<Exclude<RunStyle, 'plain'>, string> = { bold: 'strong', italic: 'em', code: 'code' };

interface Builder {
  text: string;
  html: string;
}

function addText(out: Builder, value: string, style: RunStyle): void {
  for (const run of latexToRuns(value, style)) {
    out.text += run.text;
    const escaped = escapeHtml(run.text);
    out.html += run.style === 'plain' ? escaped : `<${TAGS[run.style]}>${escaped}</${TAGS[run.style]}>`;
  }
}

function addNodes(out: Builder, nodes: readonly (PhrasingContent | RootContent)[], style: RunStyle): void {
  for (const node of nodes) {
    switch (node.type) {
      case 'text':
        addText(out, node.value, style);
        break;
      case 'inlineCode':
        // Code is shown as written: no LaTeX conversion inside it.
        out.text += node.value;
        out.html += `<code>${escapeHtml(node.value)}</code>`;
        break;
      case 'emphasis':
      case 'strong':
      case 'delete': {
        const inner: Builder = { text: '', html: '' };
        addNodes(inner, node.children, style);
        const tag = node.type === 'emphasis' ? 'em' : node.type === 'strong' ? 'strong' : 's';
        out.text += inner.text;
        out.html += `<${tag}>${inner.html}</${tag}>`;
        break;
      }
      case 'link': {
        const inner: Builder = { text: '', html: '' };
        addNodes(inner, node.children, style);
        out.text += inner.text === node.url ? inner.text : `${inner.text} (${node.url})`;
        out.html += isSafeUrl(node.url) ? `<a href="${escapeHtml(node.url)}">${inner.html}</a>` : inner.html;
        break;
      }
      case 'break':
        out.text += '\n';
        out.html += '<br>';
        break;
      case 'html':
        // Raw HTML in a digest is shown as text, never passed through.
        addText(out, node.value, style);
        break;
      case 'image':
        addText(out, node.alt ?? '', style);
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
        addNodes(out, node.children as PhrasingContent[], style);
        break;
      default:
        if ('value' in node && typeof node.value === 'string') addText(out, node.value, style);
        else if ('children' in node) addNodes(out, node.children as PhrasingContent[], style);
    }
  }
}

/** Inline Markdown (with LaTeX-isms) to clean text and escaped HTML. */
export function toRichText(nodes: readonly (PhrasingContent | RootContent)[]): RichText {
  const out: Builder = { text: '', html: '' };
  addNodes(out, nodes, 'plain');
  return { text: out.text.replace(/[ \t]+/g, ' ').trim(), html: out.html.replace(/[ \t]+/g, ' ').trim() };
}

export function joinRichText(parts: RichText[]): RichText {
  return {
    text: parts.map((p) => p.text).join('\n\n'),
    html: parts.map((p) => p.html).join('<br><br>'),
  };
}
