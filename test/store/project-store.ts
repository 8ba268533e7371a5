import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';

/** Runs `fn` with the store of a test project (its config.json), closed after. */
export async function withProjectStore<T>(dir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const config = await loadConfig(join(dir, 'config.json'));
  const store = await openStore(config, { migrate: config.store.engine === 'sqlite' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Every stored subscriber with its consent history (untyped on purpose: tests look at what is stored). */
export async function storedSubscribers(dir: string): Promise<{ subscribers: Record<string, any>[] }> {
  return withProjectStore(dir, async (store) => {
    const subscribers: Record<string, any>[] = [];
    for await (const page of store.streamSubscribers({ limit: 1000 })) {
      for (const { id: _id, tokenGeneration: _g, firstSeenAt: _f, ...s } of page.subscribers) {
        const history = await store.consentHistory(s.email);
        subscribers.push({ ...s, ...(history.length ? { history } : {}) });
      }
    }
    return { subscribers };
  });
}

/** The per-recipient outcomes stored for a section, in the shape the old journal had. */
export async function storedDeliveries(dir: string, date: string): Promise<Record<string, any>[]> {
  return withProjectStore(dir, async (store) => {
    const out: Record<string, any>[] = [];
    let after = 0;
    for (;;) {
      const page = await store.listDeliveries({ section: date }, { after, limit: 1000 });
      for (const d of page) {
        out.push({ email: d.emailKey, status: d.status, messageId: d.messageId ?? undefined, reason: d.reason ?? undefined, permanent: d.permanent, stage: d.stage ?? undefined, attempts: d.attempts });
      }
      if (page.length < 1000) return out;
      after = page.at(-1)!.id;
    }
  });
}
