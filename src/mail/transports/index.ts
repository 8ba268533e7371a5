import type { Config } from '../../config/load.js';
import type { Transport } from '../transport.js';
import { OutboxTransport } from './outbox.js';

export function createTransport(config: Config): Transport {
  switch (config.transport.type) {
    case 'outbox':
      return new OutboxTransport(config.paths.outbox);
  }
}
