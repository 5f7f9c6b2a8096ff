// W4: 100k tasks sleeping 10 ms (wall time), and heap bytes per parked sleeper.
import { openNursery, run, sleep } from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { heapUsed, medianMs } from "../lib/measure.mjs";

// Peers are loaded only in the processes that measure them (child.mjs calls loadPeers), so the
// Quartet and raw processes do not pay for loading Effect and Effection.
let Effect, Fiber, effection;
export async function loadPeers() {
  ({ Effect, Fiber } = await import("effect"));
  effection = await import("effection");
}

const N = 100_000;
const LONG = 60_000;
const settle = () => new Promise((r) => setTimeout(r, 300));

export const workloads = [
  {
    id: "sleepers-wall",
    title: "W4 100k tasks sleeping 10 ms: wall time",
    unit: "ms",
    better: "lower",
    contenders: {
      quartet: {
        kind: "quartet",
        label: "quartet startSoon(() => sleep(10)) xN",
        run: () =>
          run(() =>
            medianMs(() =>
              openNursery((n) => {
                for (let i = 0; i < N; i++) n.startSoon(() => sleep(10));
              }),
            3),
          ),
      },
      raw: {
        kind: "raw",
        label: "raw async fn awaiting new Promise(r => setTimeout(r, 10))",
        run: () =>
          medianMs(() => {
            const all = new Array(N);
            for (let i = 0; i < N; i++) all[i] = (async () => { await new Promise((r) => setTimeout(r, 10)); })();
            return Promise.all(all);
          }, 3),
      },
      effect: {
        kind: "peer",
        label: "effect@4 forEach(unbounded, discard) of Effect.sleep",
        run: () => {
          const items = Array.from({ length: N }, (_, i) => i);
          const program = Effect.forEach(items, () => Effect.sleep("10 millis"), { concurrency: "unbounded", discard: true });
          return medianMs(() => Effect.runPromise(program), 3);
        },
      },
      effection: {
        kind: "peer",
        label: "effection@4 spawn xN sleep(10), then yield* each",
        run: () =>
          medianMs(
            () =>
              effection.run(function* () {
                const tasks = [];
                for (let i = 0; i < N; i++) tasks.push(yield* effection.spawn(() => effection.sleep(10)));
                for (const t of tasks) yield* t;
              }),
            1,
            0,
          ),
      },
    },
  },
  {
    id: "sleepers-heap",
    title: "W4 100k parked sleepers: heap bytes per task",
    unit: "B/task",
    better: "lower",
    contenders: {
      quartet: {
        kind: "quartet",
        label: "quartet startSoon(() => sleep(60 s)) xN",
        run: () =>
          run(async () => {
            let perTask = 0;
            await openNursery(async (n) => {
              const h0 = heapUsed();
              for (let i = 0; i < N; i++) n.startSoon(() => sleep(LONG));
              await waitAllTasksBlocked();
              perTask = (heapUsed() - h0) / N;
              n.cancelScope.cancel();
            });
            return perTask;
          }),
      },
      raw: {
        kind: "raw",
        label: "raw async fn awaiting new Promise(r => setTimeout(r, 60 s))",
        run: async () => {
          const h0 = heapUsed();
          const all = new Array(N);
          const timers = new Array(N);
          for (let i = 0; i < N; i++) all[i] = (async () => { await new Promise((r) => { timers[i] = setTimeout(r, LONG); }); })();
          await settle();
          const perTask = (heapUsed() - h0) / N - 8; // minus the timers array slot kept for cleanup
          for (const t of timers) clearTimeout(t);
          return perTask;
        },
      },
      effect: {
        kind: "peer",
        label: "effect@4 forEach(unbounded, discard) of Effect.sleep",
        run: async () => {
          const items = Array.from({ length: N }, (_, i) => i);
          const h0 = heapUsed();
          const fiber = Effect.runFork(Effect.forEach(items, () => Effect.sleep("60 seconds"), { concurrency: "unbounded", discard: true }));
          await settle();
          const perTask = (heapUsed() - h0) / N;
          await Effect.runPromise(Fiber.interrupt(fiber));
          return perTask;
        },
      },
      effection: {
        kind: "peer",
        label: "effection@4 spawn xN sleep(60 s) (N = 20k: bytes per task; 100k take 25 s to spawn)",
        run: async () => {
          const n = 20_000;
          const h0 = heapUsed();
          let ready;
          const spawned = new Promise((r) => (ready = r));
          const task = effection.run(function* () {
            for (let i = 0; i < n; i++) yield* effection.spawn(() => effection.sleep(LONG));
            ready();
            yield* effection.suspend();
          });
          await spawned;
          await settle();
          const perTask = (heapUsed() - h0) / n;
          await task.halt();
          return perTask;
        },
      },
    },
  },
];
