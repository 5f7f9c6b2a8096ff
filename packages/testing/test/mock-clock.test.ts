// Trio §5 F 103–107: MockClock arithmetic, autojump, inert foreign clocks, preset thresholds.
import { describe, expect, test } from "vitest";
import { currentTime, moveOnAfter, openNursery, run, sleep, sleepForever, sleepUntil } from "@quartet/core";
import { currentRuntime, waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { MockClock } from "@quartet/testing";
import { autojump, installLeakCheck, mock, qrun } from "./helpers.js";

installLeakCheck();

describe("§5 F 103 MockClock arithmetic (test_mock_clock, real clock pinned)", () => {
  test("jump, deadlineToSleepTime and rate re-basing", () => {
    let realNow = 123;
    const c = new MockClock({ realTime: () => realNow });
    expect(c.rate).toBe(0);
    expect(c.autojumpThreshold).toBe(Infinity);
    expect(c.currentTime()).toBe(0);
    c.jump(1200);
    expect(c.currentTime()).toBe(1200);
    expect(() => c.jump(-1)).toThrow(RangeError);
    expect(c.currentTime()).toBe(1200);
    expect(c.deadlineToSleepTime(1100)).toBe(0);
    expect(c.deadlineToSleepTime(1200)).toBe(0);
    expect(c.deadlineToSleepTime(1300)).toBeGreaterThan(999_999);

    expect(() => {
      c.rate = -1;
    }).toThrow(RangeError);
    expect(c.rate).toBe(0);

    c.rate = 2;
    expect(c.currentTime()).toBe(1200);
    realNow += 1000;
    expect(c.currentTime()).toBe(3200);
    expect(c.deadlineToSleepTime(3100)).toBe(0);
    expect(c.deadlineToSleepTime(3200)).toBe(0);
    expect(c.deadlineToSleepTime(4200)).toBe(500);

    c.rate = 0.5;
    expect(c.currentTime()).toBe(3200);
    expect(c.deadlineToSleepTime(3100)).toBe(0);
    expect(c.deadlineToSleepTime(3200)).toBe(0);
    expect(c.deadlineToSleepTime(4200)).toBe(2000);

    c.jump(800);
    expect(c.currentTime()).toBe(4000);
    realNow += 1000;
    expect(c.currentTime()).toBe(4500);

    const c2 = new MockClock({ rate: 3 });
    expect(c2.rate).toBe(3);
    expect(c2.currentTime()).toBeLessThan(10_000);
    expect(String(c)).toBe("MockClock(time=4500, rate=0.5, autojumpThreshold=Infinity)");
  });

  test("negative, NaN and non-number values are refused, and nothing changes", () => {
    expect(() => new MockClock({ rate: -1 })).toThrow(RangeError);
    expect(() => new MockClock({ rate: NaN })).toThrow(RangeError);
    expect(() => new MockClock({ rate: Infinity })).toThrow(RangeError);
    expect(() => new MockClock({ autojumpThreshold: -1 })).toThrow(RangeError);
    expect(() => new MockClock({ autojumpThreshold: NaN })).toThrow(RangeError);
    expect(() => new MockClock({ rate: "1" as unknown as number })).toThrow(TypeError);
    expect(() => new MockClock(5 as unknown as object)).toThrow(TypeError);
    expect(() => new MockClock({ realTime: 5 as unknown as () => number })).toThrow(TypeError);
    const c = new MockClock();
    expect(() => c.jump(NaN)).toThrow(RangeError);
    expect(() => c.jump(Infinity)).toThrow(RangeError);
    expect(() => {
      c.autojumpThreshold = NaN;
    }).toThrow(RangeError);
    expect(() => {
      c.rate = NaN;
    }).toThrow(/MockClock\.rate: value must be a non-negative finite number, got NaN/);
    expect(c.autojumpThreshold).toBe(Infinity);
    expect(c.rate).toBe(0);
    expect(c.currentTime()).toBe(0);
    c.autojumpThreshold = 0;
    expect(c.autojumpThreshold).toBe(0);
  });

  test("a jump from inside a task expires deadlines at the next checkpoint, not before", () =>
    mock(async (clock) => {
      let reached = false;
      const scope = await moveOnAfter(5000, async () => {
        clock.jump(10_000);
        reached = true; // the jumping task keeps running until its next checkpoint
        await sleep(0);
        throw new Error("not reached: the checkpoint must raise Cancelled");
      });
      expect(reached).toBe(true);
      expect(scope).toBeUndefined();
      expect(currentTime()).toBe(10_000);
    }));
});

describe("§5 F 104 autojump (test_mock_clock_autojump)", () => {
  test("threshold 0: each sleep advances virtual time by exactly its duration, in no real time", () =>
    mock(async (clock) => {
      clock.autojumpThreshold = 0;
      const realStart = performance.now();
      let virtualStart = currentTime();
      for (let i = 0; i < 10; i++) {
        await sleep(10_000 * i);
        expect(currentTime()).toBe(virtualStart + 10_000 * i);
        virtualStart = currentTime();
      }
      expect(currentTime()).toBe(450_000);
      // Trio's bound; a real-time sleep would take 7.5 minutes.
      expect(performance.now() - realStart).toBeLessThan(1000);
    }));

  test("waitAllTasksBlocked wins over a pending autojump; a threshold change applies at once", () =>
    mock(async (clock) => {
      clock.autojumpThreshold = 0;
      await openNursery(async (n) => {
        // A pending deadline, so that an autojump would be visible as a change of time.
        n.startSoon(() => sleep(1_000_000), { name: "far sleeper" });
        await waitAllTasksBlocked();
        clock.autojumpThreshold = 20;
        const t = currentTime();
        await waitAllTasksBlocked();
        expect(currentTime()).toBe(t);
        await waitAllTasksBlocked(10);
        expect(currentTime()).toBe(t);

        clock.autojumpThreshold = 10_000;
        await waitAllTasksBlocked();
        const realStart = performance.now();
        clock.autojumpThreshold = 0;
        // Had the change waited for the runtime's next idle period, this would take 10 s.
        await sleep(100_000);
        expect(performance.now() - realStart).toBeLessThan(5000);
        n.cancelScope.cancel();
      });
    }));
});

describe("§5 F 105 a clock the run does not use is inert", () => {
  test("changing a second clock's threshold does not make the run jump", () =>
    mock(async (clock) => {
      const other = new MockClock();
      await openNursery(async (n) => {
        n.startSoon(() => sleep(1000));
        await waitAllTasksBlocked();
        other.autojumpThreshold = 0;
        other.jump(5);
        await waitAllTasksBlocked(30);
        expect(currentTime()).toBe(0);
        expect(other.currentTime()).toBe(5);
        clock.jump(1000);
      });
      expect(currentTime()).toBe(1000);
    }));

  test("creating a MockClock inside a run leaves the run's clock alone", () =>
    autojump(async (clock) => {
      const before = currentRuntime().clock;
      const inner = new MockClock({ autojumpThreshold: 0, rate: 1 });
      expect(currentRuntime().clock).toBe(before);
      expect(currentRuntime().clock).toBe(clock);
      await sleep(1000);
      expect(currentTime()).toBe(1000);
      expect(inner.autojumpThreshold).toBe(0);
    }));

  test("a clock whose run has ended no longer drives it", async () => {
    const clock = new MockClock({ autojumpThreshold: 0 });
    await run(() => sleep(10), { clock });
    // Changing it afterwards must not touch the closed runtime (or throw).
    clock.jump(5);
    clock.autojumpThreshold = 1;
    clock.rate = 1;
    expect(clock.currentTime()).toBeGreaterThanOrEqual(15);
  });
});

describe("§5 F 106 preset threshold (test_mock_clock_autojump_preset)", () => {
  test("a threshold set before run() is applied when the run starts", async () => {
    const clock = new MockClock({ autojumpThreshold: 10 });
    const realStart = performance.now();
    await run(() => sleep(10_000_000), { clock });
    expect(clock.currentTime()).toBe(10_000_000);
    expect(performance.now() - realStart).toBeLessThan(1000);
  });

  test("autojump lands exactly on the deadline, even where now + (deadline - now) falls short", async () => {
    const clock = new MockClock({ autojumpThreshold: 0 });
    const start = 0.9749552461724582;
    const deadline = 3.386485274194603;
    expect(start + (deadline - start)).toBeLessThan(deadline);
    clock.jump(start);
    await run(() => sleepUntil(deadline), { clock });
    expect(clock.currentTime()).toBe(deadline);
  });

  test("rate > 0 with autojump: a jump still lands on the deadline", async () => {
    const clock = new MockClock({ rate: 0.001, autojumpThreshold: 0 });
    await run(async () => {
      const start = currentTime();
      await sleep(60_000);
      expect(currentTime()).toBeGreaterThanOrEqual(start + 60_000);
      expect(currentTime()).toBeLessThan(start + 60_000 + 10);
    }, { clock });
  });
});

describe("§5 F 107 autojump vs waitAllTasksBlocked (..._blocked_0, ..._nonzero)", () => {
  test("threshold 0, cushion 0: the waiter wakes before any jump", () =>
    autojump(async () => {
      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await sleep(100);
          record.push("yawn");
        });
        n.startSoon(async () => {
          await waitAllTasksBlocked();
          record.push("waiter woke");
          await sleep(1000);
          record.push("waiter done");
        });
      });
      expect(record).toEqual(["waiter woke", "yawn", "waiter done"]);
      expect(currentTime()).toBe(1000);
    }));

  test("threshold 0, a real cushion: the waiter still wakes before the sleeper's jump", () =>
    autojump(async () => {
      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await sleep(100_000);
          record.push("yawn");
        });
        n.startSoon(async () => {
          await waitAllTasksBlocked(50);
          record.push("waiter done");
        });
      });
      expect(record).toEqual(["waiter done", "yawn"]);
    }));
});

describe("autojump corner cases", () => {
  test("a deadline already in the past when idle is expired, not jumped to", () =>
    mock(async (clock) => {
      await openNursery(async (n) => {
        n.startSoon(() => sleep(10));
        await waitAllTasksBlocked();
        clock.jump(50);
        clock.autojumpThreshold = 0;
      });
      expect(currentTime()).toBe(50);
    }));

  test("autojump does not jump past a deadline that a nursery's waiter is about to use", () =>
    autojump(async () => {
      const times: number[] = [];
      await openNursery(async (n) => {
        for (const d of [30, 10, 20, 10]) {
          n.startSoon(async () => {
            await sleep(d);
            times.push(currentTime());
          });
        }
      });
      expect(times).toEqual([10, 10, 20, 30]);
    }));

  test("moveOnAfter around sleepForever is ended by a jump", () =>
    autojump(async () => {
      await moveOnAfter(3_600_000, () => sleepForever());
      expect(currentTime()).toBe(3_600_000);
    }));

  test("qrun on a plain mock clock leaves nothing behind", () => qrun(async () => {}, { clock: new MockClock() }));
});
