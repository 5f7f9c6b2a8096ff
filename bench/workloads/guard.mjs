// W7: the cost of one async-generator step with the generator guard installed vs not installed,
// inside run() in both cases (so both pay for AsyncLocalStorage alike).
import { installGeneratorGuard, run } from "@quartet/core";
import { opsPerSecond } from "../lib/measure.mjs";

const STEPS = 100_000;

async function* trivial(n) {
  for (let i = 0; i < n; i++) yield i;
}

async function loop() {
  let sum = 0;
  for await (const x of trivial(STEPS)) sum += x;
  if (sum < 0) throw new Error("unreachable");
}

export const workloads = [
  {
    id: "guard-step",
    title: "W7 async-generator step (for await over a trivial generator), guard installed vs not",
    unit: "steps/s",
    better: "higher",
    contenders: {
      quartet: {
        kind: "quartet",
        label: 'guard installed ({ mode: "throw" })',
        run: () =>
          run(async () => {
            const uninstall = installGeneratorGuard({ mode: "throw" });
            try {
              return await opsPerSecond(loop, STEPS);
            } finally {
              uninstall();
            }
          }),
      },
      raw: {
        kind: "raw",
        label: "guard not installed",
        run: () => run(() => opsPerSecond(loop, STEPS)),
      },
      "never-installed-no-run": {
        kind: "reference",
        label: "guard never installed, outside run() (no AsyncLocalStorage)",
        run: () => opsPerSecond(loop, STEPS),
      },
    },
  },
];
