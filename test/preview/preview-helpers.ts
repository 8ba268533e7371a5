import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import { buildPreviewServer } from '../../src/preview/server.js';
import { ChangeWatcher } from '../../src/preview/watch.js';
import { openAppStore } from '../../src/store/bootstrap.js';
import { ROOT } from '../helpers.js';
import { configure, makeProject } from '../cli/cli-helpers.js';

export interface RunningPreview {
  dir: string;
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** A throw-away project with its own copy of the templates (tests edit them), previewed on 127.0.0.1. */
export async function startPreview(extraConfig: Record<string, unknown> = {}): Promise<RunningPreview> {
  const dir = await makeProject();
  await cp(join(ROOT, 'templates'), join(dir, 'templates'), { recursive: true });
  const config0 = await loadConfig(join(dir, 'config.json'));
  await configure(dir, { paths: { ...config0.paths, templates: 'templates', topics: join(ROOT, 'topics.json') }, ...extraConfig });
  const config = await loadConfig(join(dir, 'config.json'));
  const watcher = new ChangeWatcher([config.paths.templates, config.paths.digests], [config.paths.topics, config.paths.subscribers]);
  const store = await openAppStore(config);
  const app = await buildPreviewServer({ config, watcher, logger: false, store });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    dir,
    url,
    app,
    async close() {
      watcher.close();
      await app.close();
      await store.close();
    },
  };
}
