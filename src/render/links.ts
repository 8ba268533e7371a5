import { LinkifyIt } from 'linkify-it';
import type { Paper } from '../digest/types.js';

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
const CODE_REPO = /^https:\/\/(?:www\.)?(?:github\.com|gitlab\.com|codeberg\.org|bitbucket\.org)\/[\w.-]+\/[\w.-]+/i;

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
      const url = urlsIn(value.text).find((u) => /^https?:\/\//i.test(u));
      if (url) return url;
    }
  }
  const texts = [paper.motivation, paper.method, paper.abstract, ...Object.values(paper.extra)].map((f) => f?.text ?? '');
  for (const text of texts) {
    const repo = urlsIn(text).find((u) => CODE_REPO.test(u));
    if (repo) return repo;
  }
  return null;
}

/**
 * A paper's links, most useful first. For arXiv papers the abstract page (what the title opens:
 * the PDF is a download on a phone), the PDF and the HTML version, derived from the arXiv id (and version, when the link names one);
 * for other links the link as written; then the code when the digest names it.
 */
export function paperLinks(paper: Paper): PaperLink[] {
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
