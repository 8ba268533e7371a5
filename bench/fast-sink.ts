/**
 * A minimal SMTP receiver for benchmarks: answers every command at once and counts messages
 * with their arrival time, parsing nothing. smtp-server (used by the tests) costs more CPU per
 * message than a sender on this 2-core machine; measuring senders needs a sink that costs less.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface FastSink {
  port: number;
  /** performance.now() of each message's end of data. */
  arrivals: number[];
  close(): Promise<void>;
}

const END_OF_DATA = '\r\n.\r\n';

function serve(socket: Socket, arrivals: number[]): void {
  let inData = false;
  let buffer = '';
  socket.setNoDelay(true);
  socket.write('220 bench ESMTP\r\n');
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (;;) {
      if (inData) {
        const end = buffer.indexOf(END_OF_DATA);
        if (end < 0) {
          // Keep only a tail long enough to hold a split terminator.
          if (buffer.length > 8) buffer = buffer.slice(-8);
          return;
        }
        buffer = buffer.slice(end + END_OF_DATA.length);
        inData = false;
        arrivals.push(performance.now());
        socket.write('250 2.0.0 queued\r\n');
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') socket.write('250-bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
      else if (verb === 'DATA') {
        inData = true;
        // The terminator may follow the DATA line directly when the body is empty.
        buffer = `\r\n${buffer}`;
        socket.write('354 go ahead\r\n');
      } else if (verb === 'QUIT') {
        socket.end('221 bye\r\n');
        return;
      } else socket.write('250 ok\r\n');
    }
  });
  socket.on('error', () => undefined);
}

export async function startFastSink(): Promise<FastSink> {
  const arrivals: number[] = [];
  const server: Server = createServer((socket) => serve(socket, arrivals));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    arrivals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
