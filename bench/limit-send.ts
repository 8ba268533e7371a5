/**
 * The limit (bench/throughput-run.ts): a plain nodemailer pool sending prebuilt messages to the
 * sink, in its own process so it shares nothing with the pass it is compared with.
 * argv: port, message count, file of prebuilt messages (4-byte length + bytes, repeated).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { BENCH_POOL } from './throughput-settings.js';

const [port, count, file] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]!];
const data = readFileSync(file);
const prebuilt: Buffer[] = [];
for (let at = 0; at < data.length; ) {
  const length = data.readUInt32BE(at);
  prebuilt.push(data.subarray(at + 4, at + 4 + length));
  at += 4 + length;
}
const pool = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: BENCH_POOL.maxConnections, maxMessages: BENCH_POOL.maxMessages });
const cpu0 = process.cpuUsage();
const start = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: BENCH_POOL.concurrency }, async () => {
    while (next < count) {
      const i = next++;
      await pool.sendMail({ envelope: { from: 'digest@example.org', to: `reader${i}@example.org` }, raw: prebuilt[i % prebuilt.length]! });
    }
  }),
);
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
pool.close();
process.send!({ rate: count / seconds, cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / count }, () => process.disconnect());
