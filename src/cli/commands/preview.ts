import { dirname } from 'node:path';
import { buildPreviewServer } from '../../preview/server.js';
import { openAppStore } from '../../store/bootstrap.js';
import { ChangeWatcher } from '../../preview/watch.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { logger } from '../progress.js';
import { loadConfigFrom } from '../shared.js';

export async function previewCommand(globals: GlobalOptions, flags: { port?: string; host?: string }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const watcher = new ChangeWatcher([config.paths.templates, config.paths.digests], [config.paths.topics, config.paths.subscribers, config.file]);
  watcher.on('change', (what: string) => logger.info({ file: what }, 'changed on disk: reloading open pages'));
  const store = await openAppStore(config);
  const app = await buildPreviewServer({ config, watcher, logger: false, store });
  const host = flags.host ?? config.preview.host;
  const port = flags.port !== undefined ? Number(flags.port) : config.preview.port;
  const address = await app.listen({ host, port });
  console.log(`digest-mailer preview: open ${address}/ (watching ${dirname(config.paths.templates)}; Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      watcher.close();
      void app.close().then(() => store.close()).then(() => resolve());
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return EXIT.ok;
}
