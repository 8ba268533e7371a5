/**
 * Throughput against the limit (issue 10). For each list size, in a fresh child process:
 *  1. the limit: a plain nodemailer pool sending prebuilt messages (the same mix of sizes) to a
 *     local smtp-server sink in another process;
 *  2. a whole digest-mailer pass (config, lock, ledger with group commit, selection, rendering
 *     once per paper set, splicing, the same pooled SMTP settings) to the same sink.
 * Prints messages/s, CPU ms per message, peak RSS, compiles against distinct paper sets and the
 * ratio to the limit. Sizes: BENCH_SIZES (default "10000,100000"); the largest seed section.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';

const root = process.cwd();
const sizes = (process.env.BENCH_SIZES ?? '10000,100000').split(',').map(Number);
for (const size of sizes) {
  await new Promise<void>((resolve, reject) => {
    const child = fork(join(root, 'bench/throughput-run.ts'), [String(size)], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`throughput run for ${size} exited with ${code}`))));
  });
}
