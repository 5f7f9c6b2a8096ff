// Trio §5 F 108–110 (and §4.2): waitAllTasksBlocked, on the system clock and on mock clocks.
import { describe, expect, test } from "vitest";
import { Cancelled, cancellable, checkpoint, currentTime, openNursery, run, sleep } from "@quartet/core";
import { currentStatistics } from "@quartet/core/lowlevel";
import { MockClock, waitAllTasksBlocked } from "@quartet/testing";
import { autojump, installLeakCheck, mock, qrun } from "./helpers.js";

installLeakCheck();

describe("§5 F 108 waitAllTasksBlocked basics (test_wait_all_tasks_blocked)", () => {
  test("waiters wake only once the busy task has stopped", () =>
    qrun(async () => {
      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          for (let i = 0; i < 10; i++) await checkpoint();
          record.push("busy bee exhausted");
        });
        for (let i = 0; i < 2; i++) {
          n.startSoon(async () => {
            await waitAllTasksBlocked();
            record.push("quiet at last!");
          });
        }
      });
      expect(record).toEqual(["busy bee exhausted", "quiet at last!", "quiet at last!"]);
    }));

  test("a waiter in a cancelled nursery gets Cancelled and leaves no idle waiter behind", () =>
    qrun(async () => {
      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          try {
            await waitAllTasksBlocked();
          } catch (e) {
            if (e instanceof Cancelled) record.push("ok");
            throw e;
          }
        });
        await checkpoint();
        expect(currentStatistics().idleWaiters).toBe(1);
        n.cancelScope.cancel();
      });
      expect(record).toEqual(["ok"]);
      expect(currentStatistics().idleWaiters).toBe(0);
    }));

  test("the canonical use: after it returns, the child is parked", () =>
    qrun(async () => {
      await openNursery(async (n) => {
        n.startSoon(() => sleep(60_000));
        expect(currentStatistics().waitersParked).toBe(0);
        await waitAllTasksBlocked();
        expect(currentStatistics().waitersParked).toBe(1);
        n.cancelScope.cancel();
      });
    }));

  test("a task awaiting foreign work through cancellable() counts as blocked", () =>
    qrun(async () => {
      let release!: () => void;
      const foreign = new Promise<void>((r) => (release = r));
      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await cancellable(foreign);
          record.push("foreign done");
        });
        await waitAllTasksBlocked();
        record.push("blocked");
        release();
      });
      expect(record).toEqual(["blocked", "foreign done"]);
    }));

  test("bad cushions are refused synchronously", () =>
    qrun(async () => {
      expect(() => waitAllTasksBlocked(-1)).toThrow(RangeError);
      expect(() => waitAllTasksBlocked(NaN)).toThrow(RangeError);
      expect(() => waitAllTasksBlocked("1" as unknown as number)).toThrow(TypeError);
    }));
});

describe("§5 F 109 with mock timeouts (test_wait_all_tasks_blocked_with_timeouts)", () => {
  test("a sleeping child is blocked; after a jump it finishes", () =>
    mock(async (clock) => {
      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          record.push("tt start");
          await sleep(5000);
          record.push("tt finished");
        });
        await waitAllTasksBlocked();
        expect(record).toEqual(["tt start"]);
        clock.jump(10_000);
        await waitAllTasksBlocked();
        expect(record).toEqual(["tt start", "tt finished"]);
      });
    }));
});

describe("§5 F 110 cushion ordering (test_wait_all_tasks_blocked_with_cushion)", () => {
  test("smallest cushion first, equal cushions together, each wake restarts the others' idle time", () =>
    qrun(async () => {
      // System clock: blink's real-time sleeps keep the runtime busy more often than the cushions allow.
      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          record.push("blink start");
          await sleep(20);
          await sleep(20);
          await sleep(20);
          record.push("blink end");
        });
        n.startSoon(async () => {
          await waitAllTasksBlocked();
          record.push("wait_no_cushion end");
        });
        for (let i = 0; i < 2; i++) {
          n.startSoon(async () => {
            await waitAllTasksBlocked(40);
            record.push("wait_small_cushion end");
          });
        }
        n.startSoon(async () => {
          await waitAllTasksBlocked(60);
          record.push("wait_big_cushion end");
        });
      });
      expect(record).toEqual([
        "blink start",
        "wait_no_cushion end",
        "blink end",
        "wait_small_cushion end",
        "wait_small_cushion end",
        "wait_big_cushion end",
      ]);
    }));

  test("waking one waiter restarts the idle timer of a waiter with a bigger cushion", () =>
    qrun(async () => {
      const record: string[] = [];
      const t0 = performance.now();
      const at: number[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await waitAllTasksBlocked(30);
          at.push(performance.now() - t0);
          record.push("small");
        });
        n.startSoon(async () => {
          await waitAllTasksBlocked(40);
          at.push(performance.now() - t0);
          record.push("big");
        });
      });
      expect(record).toEqual(["small", "big"]);
      // The big waiter needs 40 ms of idleness *after* the small one woke: not at 40 ms from the start.
      expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(35);
    }));

  test("a waiter does not count as busy for the other waiters", () =>
    autojump(async () => {
      const record: string[] = [];
      await openNursery(async (n) => {
        for (const name of ["a", "b", "c"]) {
          n.startSoon(async () => {
            await waitAllTasksBlocked();
            record.push(name);
          });
        }
      });
      expect(record).toEqual(["a", "b", "c"]);
      expect(currentTime()).toBe(0);
    }));
});

describe("priority over autojump (Trio's run loop: no autojump while anyone waits for idleness)", () => {
  test("a deadline nearer than the cushion is reached by real time, not by a jump", async () => {
    // rate 1: the sleeper's deadline is 30 real ms away, less than the waiter's 60 ms cushion.
    const clock = new MockClock({ rate: 1, autojumpThreshold: 0 });
    const record: string[] = [];
    let sleeperRealMs = -1;
    await run(async () => {
      const t0 = performance.now();
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await sleep(30);
          sleeperRealMs = performance.now() - t0;
          record.push("sleeper");
        });
        n.startSoon(async () => {
          await waitAllTasksBlocked(60);
          record.push("waiter");
        });
      });
    }, { clock });
    expect(record).toEqual(["sleeper", "waiter"]);
    // A jump would have woken the sleeper at once.
    expect(sleeperRealMs).toBeGreaterThanOrEqual(20);
  });
});
