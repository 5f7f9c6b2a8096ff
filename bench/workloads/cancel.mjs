// W5: cancel latency, 100k tasks parked forever: from the cancel call to the join settling.
import { openNursery, run, sleepForever } from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { median } from "../lib/measure.mjs";

// Peers are loaded only in the processes that measure them (child.mjs calls loadPeers), so the
// Quartet and raw processes do not pay for loading Effect and Effection.
let Effect, Fiber, effection;
export async function loadPeers() {
  ({ Effect, Fiber } = await import("effect"));
  effection = await import("effection");
}

const N = 100_000;

async function reps(n, one) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    globalThis.gc?.();
    xs.push(await one());
  }
  return median(xs);
}

export const workloads = [
  {
    id: "cancel-100k",
    title: "W5 cancel latency, 100k parked tasks (cancel call -> all unwound, join settled)",
    unit: "ms",
    better: "lower",
    contenders: {
      quartet: {
        kind: "quartet",
        label: "quartet nursery.cancelScope.cancel() of N sleepForever children",
        run: () =>
          run(() =>
            reps(3, async () => {
              let t0 = 0;
              await openNursery(async (n) => {
                for (let i = 0; i < N; i++) n.startSoon(sleepForever);
                await waitAllTasksBlocked();
                globalThis.gc?.();
                t0 = performance.now();
                n.cancelScope.cancel();
              });
              return performance.now() - t0;
            }),
          ),
      },
      raw: {
        kind: "raw",
        label: "raw: 1 abort listener fans out to per-task rejects (Set)",
        run: () =>
          reps(3, async () => {
            const ac = new AbortController();
            const rejects = new Set();
            ac.signal.addEventListener("abort", () => {
              for (const r of rejects) r(ac.signal.reason);
            });
            const all = new Array(N);
            for (let i = 0; i < N; i++) {
              all[i] = (async () => {
                let rej;
                try {
                  await new Promise((_, r) => {
                    rej = r;
                    rejects.add(r);
                  });
                } finally {
                  rejects.delete(rej);
                }
              })();
            }
            await new Promise((r) => setImmediate(r));
            globalThis.gc?.();
            const t0 = performance.now();
            ac.abort();
            await Promise.allSettled(all);
            return performance.now() - t0;
          }),
      },
      effect: {
        kind: "peer",
        label: "effect@4 Fiber.interrupt of forEach(unbounded) of Effect.never",
        run: () =>
          reps(3, async () => {
            const items = Array.from({ length: N }, (_, i) => i);
            const fiber = Effect.runFork(Effect.forEach(items, () => Effect.never, { concurrency: "unbounded", discard: true }));
            await new Promise((r) => setTimeout(r, 300));
            globalThis.gc?.();
            const t0 = performance.now();
            await Effect.runPromise(Fiber.interrupt(fiber));
            return performance.now() - t0;
          }),
      },
      effection: {
        kind: "peer",
        label: "effection@4 halt() of a task holding N suspended children",
        run: () =>
          reps(1, async () => {
            let ready;
            const spawned = new Promise((r) => (ready = r));
            const task = effection.run(function* () {
              for (let i = 0; i < N; i++) yield* effection.spawn(effection.suspend);
              ready();
              yield* effection.suspend();
            });
            await spawned;
            await new Promise((r) => setTimeout(r, 100));
            globalThis.gc?.();
            const t0 = performance.now();
            await task.halt();
            return performance.now() - t0;
          }),
      },
    },
  },
];
