// The deadlock report (API.md "@quartet/testing"): with an autojump clock, a run that can never make
// progress rejects with an Error whose message begins "Deadlock:" and names every parked task.
import { describe, expect, test } from "vitest";
import { cancellable, openNursery, run, sleep, sleepForever } from "@quartet/core";
import { ForeignWork, ParkingLot, waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { MockClock, Sequencer } from "@quartet/testing";
import { installLeakCheck, rejection } from "./helpers.js";

installLeakCheck();

function autojumpRun<T>(main: () => Promise<T>): Promise<T> {
  return run(main, { clock: new MockClock({ autojumpThreshold: 0 }) });
}

async function deadlock(p: Promise<unknown>): Promise<string> {
  const e = await rejection(p);
  expect(e).toBeInstanceOf(Error);
  const message = (e as Error).message;
  expect(message.startsWith("Deadlock:")).toBe(true);
  return message;
}

describe("deadlock report", () => {
  test("names each parked task and what it waits on", async () => {
    const lot = new ParkingLot("orders queue");
    const message = await deadlock(
      autojumpRun(() =>
        openNursery(async (n) => {
          n.startSoon(() => lot.park(), { name: "consumer" });
          n.startSoon(() => sleepForever(), { name: "idler" });
          await sleep(1000); // time passes first: a pending deadline is not a deadlock
        }),
      ),
    );
    expect(message).toMatch(/task "consumer" is waiting in orders queue\.park\(\)/);
    expect(message).toMatch(/task "idler" is waiting in sleepForever/);
    expect(message).toMatch(/task "main" is waiting in nursery exit/);
  });

  test("a deadlock between two tasks waiting for each other", async () => {
    const a = new ParkingLot("A");
    const b = new ParkingLot("B");
    const message = await deadlock(
      autojumpRun(() =>
        openNursery(async (n) => {
          n.startSoon(async () => {
            await a.park();
            b.unparkAll();
          }, { name: "left" });
          n.startSoon(async () => {
            await b.park();
            a.unparkAll();
          }, { name: "right" });
        }),
      ),
    );
    expect(message).toMatch(/"left" is waiting in A\.park\(\)/);
    expect(message).toMatch(/"right" is waiting in B\.park\(\)/);
  });

  test("a Sequencer waiting for a position nobody takes is reported with its position", async () => {
    const seq = new Sequencer();
    const message = await deadlock(
      autojumpRun(() =>
        openNursery(async (n) => {
          n.startSoon(() => seq.run(2, () => {}), { name: "second" });
          await seq.run(0, () => {});
        }),
      ),
    );
    expect(message).toMatch(/"second" is waiting in Sequencer position 2\.park\(\)/);
  });

  test("the main task alone, parked forever", async () => {
    const message = await deadlock(autojumpRun(() => sleepForever()));
    expect(message).toMatch(/task "main" is waiting in sleepForever/);
  });

  test("not reported while foreign work (cancellable) is outstanding", async () => {
    const value = await autojumpRun(async () => {
      // Outlives the report's 250 ms grace period.
      const slow = new Promise<string>((r) => setTimeout(() => r("arrived"), 350));
      return cancellable(slow);
    });
    expect(value).toBe("arrived");
  });

  test("reported once foreign work that was not wrapped in cancellable() is over", async () => {
    const message = await deadlock(
      autojumpRun(async () => {
        await new Promise((r) => setTimeout(r, 20)); // not a Quartet wait: the runtime cannot see it
        await sleepForever();
      }),
    );
    expect(message).toMatch(/task "main" is waiting in sleepForever/);
  });

  test("reported once declared foreign work (ForeignWork) is released without waking anyone", async () => {
    const message = await deadlock(
      autojumpRun(async () => {
        const work = new ForeignWork();
        work.hold();
        setTimeout(() => work.release(), 20);
        await sleepForever();
      }),
    );
    expect(message).toMatch(/task "main" is waiting in sleepForever/);
  });

  test("waitAllTasksBlocked is not a deadlock: it wakes", async () => {
    const r = await autojumpRun(async () => {
      await waitAllTasksBlocked();
      return "woke";
    });
    expect(r).toBe("woke");
  });

  test("not reported without autojump: a plain mock clock just waits", async () => {
    const signal = AbortSignal.timeout(400);
    const e = await rejection(run(() => sleepForever(), { clock: new MockClock(), signal }));
    expect(e).toBe(signal.reason);
  });
});
