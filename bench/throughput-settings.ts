/** Pool and concurrency shared by the limit and the pass, so both use the sink the same way. */
export const BENCH_POOL = { maxConnections: 5, maxMessages: 1000, concurrency: 32 };
