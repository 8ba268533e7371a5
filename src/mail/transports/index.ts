import type { Config } from '../../config/load.js';
import type { Transport } from '../transport.js';
import { OutboxTransport } from './outbox.js';
import { SesTransport } from './ses.js';
import { SmtpTransport } from './smtp.js';

export function createTransport(config: Config, env: NodeJS.ProcessEnv = process.env): Transport {
  switch (config.transport.type) {
    case 'outbox':
      return new OutboxTransport(config.paths.outbox, { htmlCopy: config.transport.htmlCopy });
    case 'smtp':
      return new SmtpTransport(config, env);
    case 'ses':
      return new SesTransport(config);
  }
}
