// Measurement helpers shared by the workloads. Each contender runs in its own process (see run.mjs),
// so a Quartet run does not switch on AsyncLocalStorage's promise hooks for the raw baseline.
import { Bench } from "tinybench";

/** Median of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `fn` (one batch of `ops` operations) under tinybench and returns operations per second, from
 * the median batch latency.
 */
export async function opsPerSecond(fn, ops, { time = 400, warmupTime = 150, iterations = 5 } = {}) {
  const bench = new Bench({ time, warmupTime, iterations, warmup: true });
  bench.add("batch", fn);
  await bench.run();
  const task = bench.tasks[0];
  const r = task.result;
  if (r.state !== "completed") throw r.error ?? new Error(`benchmark ${r.state}`);
  return (ops * 1000) / r.latency.p50;
}

/** Runs `fn` `reps` times (after `warm` warm-up runs) and returns the median wall time in ms. */
export async function medianMs(fn, reps = 5, warm = 1) {
  for (let i = 0; i < warm; i++) await fn();
  const times = [];
  for (let i = 0; i < reps; i++) {
    globalThis.gc?.();
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

/** Heap bytes after a full GC (needs --expose-gc). */
export function heapUsed() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}
