import { LinkifyIt } from 'linkify-it';
import { escapeHtml } from '../digest/html.js';
import type { Paper, RichText } from '../digest/types.js';

export interface PaperLink {
  label: 'Abstract' | 'PDF' | 'HTML' | 'Code' | 'Link';
  url: string;
}

/** An arXiv abs, pdf or html link: the identifier with the version when the link names one. */
const ARXIV_LINK = /arxiv\.org\/(?:abs|pdf|html)\/((?:[0-9]{4}\.[0-9]{4,5}|[a-z-]+\/[0-9]{7})(?:v[0-9]+)?)/i;

const linkify = new LinkifyIt({ fuzzyLink: false, fuzzyEmail: false });

/** Extra fields of a digest entry that name the code ("**Code:** https://…"). */
const CODE_FIELD = /^(?:code|github|repo|repository|source code|source|implementation)$/i;
/** A repository on a code host: owner and name, not the host's front page or a github.io site. */
const CODE_REPO = /https?:\/\/(?:www\.)?(?:github\.com|gitlab\.com|codeberg\.org|bitbucket\.org)\/[\w.-]+\/[\w.-]+/i;

function urlsIn(text: string): string[] {
  return (linkify.match(text) ?? []).map((m) => m.url.replace(/[.,;:]+$/, ''));
}

/**
 * The code link of a paper: a Code-like field's first URL, else the first repository URL
 * (GitHub, GitLab, Codeberg, Bitbucket) in its motivation, method, abstract or other fields.
 */
export function codeLink(paper: Paper): string | null {
  for (const [label, value] of Object.entries(paper.extra)) {
    if (CODE_FIELD.test(label.trim())) {
      const url = urlsIn(value.text.slice(0, 2_000)).find((u) => /^https?:\/\//i.test(u));
      if (url) return url;
    }
  }
  // A plain regular expression, not the URL finder: fields may be megabytes long (limits.maxFieldChars cuts them later).
  const texts = [paper.motivation, paper.method, paper.abstract, ...Object.values(paper.extra)].map((f) => f?.text ?? '');
  for (const text of texts) {
    const repo = CODE_REPO.exec(text)?.[0];
    if (repo) return repo.replace(/[.]+$/, '');
  }
  return null;
}

/**
 * A paper's links, most useful first. For arXiv papers the abstract page (what the title opens:
 * the PDF is a download on a phone), the PDF and the HTML version, derived from the arXiv id (and version, when the link names one);
 * for other links the link as written; then the code when the digest names it.
 */
export function paperLinks(paper: Paper): PaperLink[] {
  // Every view of every paper set asks again; finding URLs in the text is what costs.
  let links = linksOf.get(paper);
  if (!links) linksOf.set(paper, (links = findLinks(paper)));
  return links.map((l) => ({ ...l }));
}

const linksOf = new WeakMap<Paper, PaperLink[]>();

function findLinks(paper: Paper): PaperLink[] {
  const links: PaperLink[] = [];
  const id = paper.link ? (ARXIV_LINK.exec(paper.link)?.[1] ?? null) : null;
  if (id) {
    links.push(
      { label: 'Abstract', url: `https://arxiv.org/abs/${id}` },
      { label: 'PDF', url: `https://arxiv.org/pdf/${id}` },
      { label: 'HTML', url: `https://arxiv.org/html/${id}` },
    );
  } else if (paper.link) {
    links.push({ label: 'Link', url: paper.link });
  }
  const code = codeLink(paper);
  if (code) links.push({ label: 'Code', url: code });
  return links;
}

/**
 * Top-level domains SpamAssassin's rules distrust (72_active.cf: SUSP_URI_NTLD and .pro): one
 * URL on such a host in a message scores a point or two, however honest the paper. Kept in
 * step with SpamAssassin 4.0; test/mail/spamassassin.test.ts fails when a seed email scores.
 */
export const DISTRUSTED_TLDS: ReadonlySet<string> = new Set([
  'icu', 'online', 'work', 'date', 'top', 'fun', 'life', 'review', 'bid', 'stream', 'gdn', 'click', 'world', 'fit',
  'ooo', 'faith', 'buzz', 'trade', 'cyou', 'vip', 'pro',
]);

/** A cheap first look: no need to find URLs in a field that names none of these domains. */
const MAY_HAVE_DISTRUSTED = new RegExp(`\\.(?:${[...DISTRUSTED_TLDS].join('|')})\\b`, 'i');

export function distrustedHost(url: string): boolean {
  try {
    const tld = new URL(url).hostname.split('.').pop() ?? '';
    return DISTRUSTED_TLDS.has(tld.toLowerCase());
  } catch {
    return false;
  }
}

/** What stands in for a URL on a distrusted domain: the paper's abstract page shows it. */
export const DISTRUSTED_LINK_TEXT = 'link on the arXiv abstract page';

/**
 * A field with its URLs on distrusted domains (DISTRUSTED_TLDS) replaced by a pointer to the
 * paper's page (`pageUrl`, which shows them), so one project URL on .online does not put the
 * whole email in a spam folder. Other links are left as they are.
 */
export function withoutDistrustedLinks(field: RichText, pageUrl: string | null): RichText {
  if (!MAY_HAVE_DISTRUSTED.test(field.text)) return field;
  const urls = urlsIn(field.text).filter(distrustedHost);
  if (urls.length === 0) return field;
  const label = pageUrl ? DISTRUSTED_LINK_TEXT : 'link in the original digest';
  let text = field.text;
  let html = field.html;
  for (const url of new Set(urls)) {
    text = text.split(url).join(`(${label})`);
    const anchor = new RegExp(`<a href="${escapeHtml(url).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/?">([\\s\\S]*?)</a>`, 'g');
    const pointer = pageUrl ? `(<a href="${escapeHtml(pageUrl)}">${label}</a>)` : `(${label})`;
    html = html.replace(anchor, (_, inner: string) => (inner.replace(/\/$/, '') === escapeHtml(url).replace(/\/$/, '') ? pointer : `${inner} ${pointer}`));
    // The same URL as plain text (a cut field has no anchors left).
    html = html.split(escapeHtml(url)).join(pointer);
  }
  return { text, html };
}
