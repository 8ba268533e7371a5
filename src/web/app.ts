import type { FastifyInstance } from 'fastify';
import { openAppStore } from '../store/bootstrap.js';
import type { Store } from '../store/store.js';
import type { Config } from '../config/load.js';
import { createTransport } from '../mail/transports/index.js';
import type { LinkSettings } from '../tokens/links.js';
import { loadTaxonomy } from '../topics/load.js';
import { ConfirmationMailer, type ConfirmationLog } from './confirmation.js';
import { loadPages } from './pages.js';
import { buildServer } from './server.js';
import { Archive } from './archive.js';

export interface WebApp {
  app: FastifyInstance;
  store: Store;
  mailer: ConfirmationMailer;
  close(): Promise<void>;
}

/** The subscription web app with its edges: the store, the transport, the templates. */
export async function createWebApp(config: Config, links: LinkSettings, log: ConfirmationLog, options: { logger?: boolean; now?: () => Date; drainIntake?: boolean } = {}): Promise<WebApp> {
  const taxonomy = await loadTaxonomy(config.paths.topics, { termsOnly: true }); // ids and labels only: no learned weights to load
  const store = await openAppStore(config);
  // The archive classifies papers as a run does, learned weights too: loaded on its first request.
  const archive = new Archive(config, store, taxonomy, () => loadTaxonomy(config.paths.topics));
  const now = options.now ?? (() => new Date());
  const mailer = await ConfirmationMailer.create(config, createTransport(config), links, log, now);
  const pages = await loadPages(config.paths.templates, config.list);
  const app = await buildServer({ config, taxonomy, store, links, mailer, pages, archive, now, log, ...(options.logger === false ? { logger: false } : {}), ...(options.drainIntake === false ? { drainIntake: false } : {}) });
  return {
    app,
    store,
    mailer,
    async close() {
      await app.close();
      await mailer.close();
      await store.close();
    },
  };
}
