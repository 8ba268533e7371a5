import { createWebApp } from '../../web/app.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { logger } from '../progress.js';
import { linkSettings, loadConfigFrom } from '../shared.js';
import { schedulerFor } from './schedule.js';

export async function serveCommand(globals: GlobalOptions, flags: { schedule: boolean; port?: string; host?: string }): Promise<number> {
  const config = await loadConfigFrom(globals);
  // serve verifies links (one-click unsubscribe, preferences): never with the public development
  // secret, whatever the transport, or anyone could forge them.
  const links = linkSettings(config, 'serve');
  const web = await createWebApp(config, links, (level, msg, fields) => logger[level](fields ?? {}, msg));
  const host = flags.host ?? config.web.host;
  const port = flags.port !== undefined ? Number(flags.port) : config.web.port;
  const address = await web.app.listen({ host, port });
  console.log(`digest-mailer serve: listening on ${address} (subscribe at ${address}/subscribe; links in emails use ${config.baseUrl})`);

  let stopRun: (() => void) | null = null;
  const scheduler = flags.schedule ? schedulerFor(config, (stop) => (stopRun = stop)) : null;
  if (scheduler) void scheduler.start();

  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      stopRun?.();
      void Promise.all([web.close(), scheduler?.stop()]).then(() => resolve());
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  return EXIT.ok;
}
