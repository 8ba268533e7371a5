import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest } from '../../src/digest/parse.js';
import type { Section } from '../../src/digest/types.js';
import { makeProject } from '../cli/cli-helpers.js';
import { withProjectStore } from '../store/project-store.js';
import { startApp, type RunningApp } from './web-helpers.js';

/** A paper whose every field tries to break out of HTML, XML or the feed's CDATA. */
export const HOSTILE_SECTION = `
## 2025-11-14

*Date Range: [2025-11-13, 2025-11-14)*

### <script>alert("title")</script> & Co ]]> "Quoted" Video Models

**Authors:** Zoë <b>Bold</b>, Ming Li

**Link:** https://arxiv.org/pdf/2511.99901

**Motivation:**

Video models </p><img src=x onerror=alert(1)> ignore ]]> edge cases.

**Method:**

We test <iframe src="https://evil.example"></iframe> video inputs.

**Abstract:**

A video benchmark; see https://example.org/?a=1&b=2 for data.
`;

/** Published: sent. Not published: still sending, before the start, never recorded. */
export const SENT = ['2025-11-14', '2025-11-12', '2025-11-07'];
export const UNSENT = { sending: '2025-11-13', 'before-start': '2025-11-10', unrecorded: '2025-11-06' };

export interface ArchiveProject {
  dir: string;
  web: RunningApp;
  sections: Map<string, Section>;
}

/** A project whose store says which seed sections went out, and the web app serving it. */
export async function archiveProject(): Promise<ArchiveProject> {
  const dir = await makeProject();
  await appendFile(join(dir, 'digests/2025-11.md'), HOSTILE_SECTION);
  const parsed = parseDigest(await readFile(join(dir, 'digests/2025-11.md'), 'utf8'), 'digests/2025-11.md');
  if (parsed.problems.length) throw new Error(`fixture digest has problems: ${JSON.stringify(parsed.problems)}`);
  const sections = new Map(parsed.sections.map((s) => [s.date, s]));
  const web = await startApp(dir);
  await withProjectStore(dir, async (store) => {
    for (const [i, date] of SENT.entries()) {
      const at = `${date}T0${7 + i}:00:00.000Z`;
      await store.putSection(date, { status: 'sent', hash: sections.get(date)!.hash, at, openedAt: `${date}T06:00:00.000Z`, sentAt: at });
    }
    await store.putSection(UNSENT.sending, { status: 'sending', hash: sections.get(UNSENT.sending)!.hash, at: '2025-11-13T07:00:00.000Z', openedAt: '2025-11-13T07:00:00.000Z' });
    await store.putSection(UNSENT['before-start'], { status: 'before-start', hash: sections.get(UNSENT['before-start'])!.hash, at: '2025-11-13T07:00:00.000Z' });
  });
  return { dir, web, sections };
}
