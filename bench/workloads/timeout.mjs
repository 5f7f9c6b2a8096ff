// W3: enter and leave a timeout scope whose 10 s deadline never fires, around work that awaits once.
import { moveOnAfter, run } from "@quartet/core";
import { opsPerSecond } from "../lib/measure.mjs";

// Peers are loaded only in the processes that measure them (child.mjs calls loadPeers), so the
// Quartet and raw processes do not pay for loading Effect and Effection.
let Effect, effection;
export async function loadPeers() {
  ({ Effect } = await import("effect"));
  effection = await import("effection");
}

const BATCH = 10_000;
const work = async () => {
  await null;
};

export const workloads = [
  {
    id: "timeout-scope",
    title: "W3 timeout scope enter/exit (10 s timeout never fires, work awaits once)",
    unit: "ops/s",
    better: "higher",
    contenders: {
      quartet: {
        kind: "quartet",
        label: "quartet moveOnAfter(10_000, fn)",
        run: () =>
          run(() =>
            opsPerSecond(async () => {
              for (let i = 0; i < BATCH; i++) await moveOnAfter(10_000, work);
            }, BATCH),
          ),
      },
      raw: {
        kind: "raw",
        label: "raw setTimeout + clearTimeout in try/finally",
        run: () =>
          opsPerSecond(async () => {
            for (let i = 0; i < BATCH; i++) {
              const t = setTimeout(() => {}, 10_000);
              try {
                await work();
              } finally {
                clearTimeout(t);
              }
            }
          }, BATCH),
      },
      "raw-abortsignal": {
        kind: "reference",
        label: "raw AbortSignal.timeout + Promise.race (timer cannot be cleared)",
        run: () =>
          opsPerSecond(
            async () => {
              for (let i = 0; i < BATCH / 10; i++) {
                const signal = AbortSignal.timeout(10_000);
                let onAbort;
                const aborted = new Promise((_, rej) => {
                  onAbort = () => rej(signal.reason);
                  signal.addEventListener("abort", onAbort, { once: true });
                });
                aborted.catch(() => {});
                try {
                  await Promise.race([work(), aborted]);
                } finally {
                  signal.removeEventListener("abort", onAbort);
                }
              }
            },
            BATCH / 10,
          ),
      },
      effect: {
        kind: "peer",
        label: 'effect@4 Effect.timeout(Effect.promise(work), "10 seconds")',
        run: () => {
          const one = Effect.timeout(Effect.promise(work), "10 seconds");
          const program = Effect.gen(function* () {
            for (let i = 0; i < BATCH / 10; i++) yield* one;
          });
          return opsPerSecond(() => Effect.runPromise(program), BATCH / 10);
        },
      },
      effection: {
        kind: "peer",
        label: "effection@4 race([call(work), sleep(10 s)])",
        run: () =>
          opsPerSecond(
            () =>
              effection.run(function* () {
                for (let i = 0; i < 200; i++) {
                  yield* effection.race([effection.call(work), effection.sleep(10_000)]);
                }
              }),
            200,
            { time: 300, iterations: 2, warmupTime: 50 },
          ),
      },
    },
  },
];
