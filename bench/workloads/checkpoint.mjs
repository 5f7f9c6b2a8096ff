// W8: checkpoint() rate (raw: `await null` in a plain loop).
import { AsyncLocalStorage } from "node:async_hooks";
import { checkpoint, run } from "@quartet/core";
import { opsPerSecond } from "../lib/measure.mjs";

// Peers are loaded only in the processes that measure them (child.mjs calls loadPeers), so the
// Quartet and raw processes do not pay for loading Effect and Effection.
let Effect;
export async function loadPeers() {
  ({ Effect } = await import("effect"));
}

const BATCH = 100_000;

export const workloads = [
  {
    id: "checkpoint",
    title: "W8 checkpoint() rate",
    unit: "ops/s",
    better: "higher",
    contenders: {
      quartet: {
        kind: "quartet",
        label: "quartet await checkpoint()",
        run: () =>
          run(() =>
            opsPerSecond(async () => {
              for (let i = 0; i < BATCH; i++) await checkpoint();
            }, BATCH),
          ),
      },
      raw: {
        kind: "raw",
        label: "raw await null",
        run: () =>
          opsPerSecond(async () => {
            for (let i = 0; i < BATCH; i++) await null;
          }, BATCH),
      },
      "raw-als": {
        kind: "reference",
        label: "raw await null inside AsyncLocalStorage.run (the context-tracking floor)",
        run: () =>
          new AsyncLocalStorage().run({}, () =>
            opsPerSecond(async () => {
              for (let i = 0; i < BATCH; i++) await null;
            }, BATCH),
          ),
      },
      effect: {
        kind: "peer",
        label: "effect@4 Effect.yieldNow()",
        run: () => {
          const program = Effect.gen(function* () {
            for (let i = 0; i < BATCH / 10; i++) yield* Effect.yieldNow;
          });
          return opsPerSecond(() => Effect.runPromise(program), BATCH / 10);
        },
      },
    },
  },
];
