/** A counting SMTP sink on 127.0.0.1 in its own process, so it does not share the sender's CPU thread. */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

let received = 0;
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  size: 50 * 1024 * 1024,
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      received++;
      callback();
    });
  },
});
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.server.address() as AddressInfo).port });
});
process.on('message', (msg: { count?: boolean; stop?: boolean }) => {
  if (msg.count) process.send?.({ received });
  if (msg.stop) server.close(() => process.exit(0));
});
