// The examples of docs/testing.md, run as tests so the page stays true.
import { expect, test } from "vitest";
import { TooSlowError, currentTime, failAfter, moveOnAfter, openNursery, run, sleep } from "@quartet/core";
import { MockClock, Sequencer, quartetTest, waitAllTasksBlocked } from "@quartet/testing";
import { installLeakCheck, prng } from "./helpers.js";

installLeakCheck();

test(
  "gives up after 5 s",
  quartetTest(async (clock) => {
    await expect(failAfter(5000, () => sleep(60_000))).rejects.toBeInstanceOf(TooSlowError);
    expect(clock.currentTime()).toBe(5000);
  }),
);

test("realTime makes rate arithmetic exact", () => {
  let real = 0;
  const clock = new MockClock({ realTime: () => real });
  clock.rate = 2;
  real += 1000;
  expect(clock.currentTime()).toBe(2000);
  expect(clock.deadlineToSleepTime(3000)).toBe(500);
});

test("the Sequencer example", () =>
  run(async () => {
    const seq = new Sequencer();
    const log: string[] = [];
    await openNursery(async (n) => {
      n.startSoon(async () => {
        await seq.run(1, () => log.push("b"));
        await seq.run(3, () => log.push("d"));
      });
      n.startSoon(async () => {
        await seq.run(0, () => log.push("a"));
        await seq.run(2, () => log.push("c"));
      });
    });
    expect(log).toEqual(["a", "b", "c", "d"]);
  }));

test(
  "retries with backoff",
  quartetTest(async () => {
    const rand = prng(7);
    let attempts = 0;
    async function flaky(): Promise<string> {
      attempts++;
      await sleep(attempts < 3 ? 10_000 : 100);
      return "ok";
    }
    let result: string | undefined;
    for (let attempt = 0; result === undefined; attempt++) {
      result = await moveOnAfter(2000, flaky);
      if (result === undefined) await sleep(Math.floor(rand() * 500 * 2 ** attempt));
    }
    expect(attempts).toBe(3);
  }),
);

test(
  "a heartbeat every 30 s",
  quartetTest(
    async (clock) => {
      const beats: number[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          for (;;) {
            await sleep(30_000);
            beats.push(currentTime());
          }
        });
        await waitAllTasksBlocked();
        clock.jump(29_999);
        await waitAllTasksBlocked();
        expect(beats).toEqual([]);
        clock.jump(1);
        await waitAllTasksBlocked();
        expect(beats).toEqual([30_000]);
        n.cancelScope.cancel();
      });
    },
    { clock: "mock" },
  ),
);
