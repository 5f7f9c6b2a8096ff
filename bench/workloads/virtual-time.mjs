// W6: 10k tasks sleeping random whole-second intervals (1–600 s) until a simulated hour has passed,
// on a MockClock that autojumps as soon as every task is blocked. Same seed every run.
import { currentTime, openNursery, run, sleep } from "@quartet/core";
import { MockClock } from "@quartet/testing";
import { medianMs } from "../lib/measure.mjs";

const TASKS = 10_000;
const HOUR = 3_600_000;

function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export let sleepsPerRun = 0;

function simulatedHour() {
  const rand = prng(42);
  let sleeps = 0;
  return run(
    () =>
      openNursery((n) => {
        for (let i = 0; i < TASKS; i++) {
          n.startSoon(async () => {
            while (currentTime() < HOUR) {
              await sleep(1000 * (1 + Math.floor(rand() * 600)));
              sleeps++;
            }
          });
        }
      }).then(() => {
        sleepsPerRun = sleeps;
      }),
    { clock: new MockClock({ autojumpThreshold: 0 }) },
  );
}

export const workloads = [
  {
    id: "virtual-hour",
    title: "W6 virtual time: 10k tasks sleeping random intervals over a simulated hour (MockClock autojump)",
    unit: "ms",
    better: "lower",
    contenders: {
      quartet: {
        kind: "quartet",
        label: "quartet MockClock({ autojumpThreshold: 0 })",
        run: async () => {
          const ms = await medianMs(simulatedHour, 3);
          return { value: ms, notes: `${sleepsPerRun.toLocaleString("en")} sleeps per simulated hour` };
        },
      },
    },
  },
];
