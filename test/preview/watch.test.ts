import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChangeWatcher } from '../../src/preview/watch.js';

function nextChange(watcher: ChangeWatcher, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no change event')), timeoutMs);
    watcher.once('change', (what: string) => {
      clearTimeout(timer);
      resolve(what);
    });
  });
}

describe('preview file watcher', () => {
  it('reports edits to templates (nested), digests, topics and subscribers, including save-by-rename', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-watch-'));
    await mkdir(join(dir, 'templates/partials'), { recursive: true });
    await mkdir(join(dir, 'digests'));
    for (const f of ['topics.json', 'subscribers.json', 'other.txt']) await writeFile(join(dir, f), '{}');
    const watcher = new ChangeWatcher([join(dir, 'templates'), join(dir, 'digests')], [join(dir, 'topics.json'), join(dir, 'subscribers.json')], 50);
    try {
      let change = nextChange(watcher);
      await writeFile(join(dir, 'templates/partials/paper.mjml.hbs'), 'x');
      expect(await change).toMatch(/paper\.mjml\.hbs/);
      change = nextChange(watcher);
      await writeFile(join(dir, 'digests/2025-12.md'), '## 2025-12-01\n');
      expect(await change).toMatch(/2025-12\.md/);
      change = nextChange(watcher);
      await writeFile(join(dir, 'subscribers.json.tmp'), '{"subscribers":[]}');
      await rename(join(dir, 'subscribers.json.tmp'), join(dir, 'subscribers.json'));
      expect(await change).toBe('subscribers.json');
      change = nextChange(watcher);
      await writeFile(join(dir, 'topics.json'), '{"topics":[]}');
      expect(await change).toBe('topics.json');
      // Unrelated files next to watched ones do not trigger a reload.
      const quiet = nextChange(watcher, 600).then(() => 'changed', () => 'quiet');
      await writeFile(join(dir, 'other.txt'), 'x');
      expect(await quiet).toBe('quiet');
    } finally {
      watcher.close();
    }
  });
});
