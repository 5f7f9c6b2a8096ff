// W1: spawn and join N trivial child tasks in one nursery (raw: Promise.all over async functions).
import { AsyncLocalStorage } from "node:async_hooks";
import { openNursery, run } from "@quartet/core";
import { medianMs } from "../lib/measure.mjs";

// Peers are loaded only in the processes that measure them (child.mjs calls loadPeers), so the
// Quartet and raw processes do not pay for loading Effect and Effection.
let Effect, effection;
export async function loadPeers() {
  ({ Effect } = await import("effect"));
  effection = await import("effection");
}

const trivial = async () => {};

function make(n, reps) {
  return {
    id: `spawn-join-${n / 1000}k`,
    title: `W1 spawn+join, ${n.toLocaleString("en")} trivial tasks`,
    unit: "ms",
    better: "lower",
    contenders: {
      quartet: {
        kind: "quartet",
        label: "quartet openNursery + startSoon xN",
        run: () =>
          run(() =>
            medianMs(
              () =>
                openNursery((nursery) => {
                  for (let i = 0; i < n; i++) nursery.startSoon(trivial);
                }),
              reps,
            ),
          ),
      },
      raw: {
        kind: "raw",
        label: "raw Promise.all of async fns",
        run: () =>
          medianMs(() => {
            const all = new Array(n);
            for (let i = 0; i < n; i++) all[i] = trivial();
            return Promise.all(all);
          }, reps),
      },
      "raw-als": {
        kind: "reference",
        label: "raw Promise.all, each fn started in its own AsyncLocalStorage.run (the context floor)",
        run: () => {
          const als = new AsyncLocalStorage();
          return medianMs(() => {
            const all = new Array(n);
            for (let i = 0; i < n; i++) all[i] = als.run(i, trivial);
            return Promise.all(all);
          }, reps);
        },
      },
      effect: {
        kind: "peer",
        label: "effect@4 forEach(unbounded) of Effect.promise",
        run: () => {
          const items = Array.from({ length: n }, (_, i) => i);
          const program = Effect.forEach(items, () => Effect.promise(trivial), { concurrency: "unbounded", discard: true });
          return medianMs(() => Effect.runPromise(program), reps);
        },
      },
      effection: {
        kind: "peer",
        label: "effection@4 spawn xN, then yield* each",
        run: () =>
          medianMs(
            () =>
              effection.run(function* () {
                const tasks = [];
                for (let i = 0; i < n; i++) tasks.push(yield* effection.spawn(function* () {}));
                for (const t of tasks) yield* t;
              }),
            1,
            n > 10_000 ? 0 : 1,
          ),
      },
    },
  };
}

export const workloads = [make(10_000, 9), make(100_000, 5)];
