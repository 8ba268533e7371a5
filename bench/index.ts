// `npm run bench`: tagger quality, rendering vs per-recipient cost, then whole passes over SMTP
// on 127.0.0.1 beside the plain-pool limit (BENCH_SIZES, default 10,000 and 100,000 subscribers),
// then the preview with 100,000 subscribers in the store (BENCH_PREVIEW_SUBSCRIBERS).
await import('./tagger.js');
await import('./render.js');
await import('./throughput.js');
// A year of digest history in a run with nothing to send (BENCH_ARCHIVE_RUNS).
await import('./archive.js');
// Store latency over HTTP (BENCH_STORE_*) and 1 vs 2 worker processes on PostgreSQL (BENCH_WORKER_RECIPIENTS).
await import('./store-latency.js');
await import('./workers.js');
await import('./preview.js');
