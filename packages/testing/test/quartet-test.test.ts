// quartetTest: run() on a virtual clock, the generator guard on, for vitest's test().
import { describe, expect, test } from "vitest";
import {
  RuntimeError,
  TooSlowError,
  currentTime,
  failAfter,
  moveOnAfter,
  openNursery,
  sleep,
  sleepForever,
} from "@quartet/core";
import { currentRuntime } from "@quartet/core/lowlevel";
import { MockClock, quartetTest, waitAllTasksBlocked } from "@quartet/testing";
import { installLeakCheck, rejection } from "./helpers.js";

installLeakCheck();

describe("quartetTest as a vitest test body", () => {
  test(
    "the default clock autojumps: an hour of sleeping takes no real time",
    quartetTest(async (clock) => {
      expect(currentRuntime().clock).toBe(clock);
      expect(clock.autojumpThreshold).toBe(0);
      await sleep(3_600_000);
      expect(clock.currentTime()).toBe(3_600_000);
      await expect(failAfter(5000, () => sleep(60_000))).rejects.toBeInstanceOf(TooSlowError);
      expect(currentTime()).toBe(3_605_000);
    }),
  );

  test(
    "the test context comes second",
    quartetTest(async (_clock, context: { task?: { name: string } }) => {
      expect(context.task?.name).toBe("the test context comes second");
    }),
  );

  test(
    '"mock": time moves only when jumped',
    quartetTest(
      async (clock) => {
        expect(clock.autojumpThreshold).toBe(Infinity);
        await openNursery(async (n) => {
          let done = false;
          n.startSoon(async () => {
            await sleep(1000);
            done = true;
          });
          await waitAllTasksBlocked();
          expect(done).toBe(false);
          clock.jump(1000);
          await waitAllTasksBlocked();
          expect(done).toBe(true);
        });
      },
      { clock: "mock" },
    ),
  );
});

describe("quartetTest behaviour", () => {
  test("resolves with the body's value; errors come out bare", async () => {
    expect(await quartetTest(async () => 42)()).toBe(42);
    const boom = new TypeError("boom");
    expect(
      await rejection(
        quartetTest(async () => {
          await sleep(1);
          throw boom;
        })(),
      ),
    ).toBe(boom);
  });

  test("each call gets a fresh clock; a given MockClock is used as is", async () => {
    const body = quartetTest(async (clock) => {
      await sleep(10);
      return clock;
    });
    const a = await body();
    const b = await body();
    expect(a).not.toBe(b);
    expect(a.currentTime()).toBe(10);
    const mine = new MockClock({ autojumpThreshold: 0 });
    mine.jump(100);
    const c = await quartetTest(
      async (clock) => {
        await sleep(5);
        return clock;
      },
      { clock: mine },
    )();
    expect(c).toBe(mine);
    expect(mine.currentTime()).toBe(105);
  });

  test("a deadlocked test fails with a Deadlock report instead of hanging", async () => {
    const e = await rejection(
      quartetTest(() =>
        openNursery(async (n) => {
          n.startSoon(() => sleepForever(), { name: "stuck" });
        }),
      )(),
    );
    expect((e as Error).message).toMatch(/^Deadlock:[\s\S]*task "stuck" is waiting in sleepForever/);
  });

  test("the returned function declares no parameters (vitest fixture detection)", () => {
    const f = quartetTest(async () => {});
    expect(f.length).toBe(0);
    expect(/^function\s*\w*\s*\(\s*\)/.test(Function.prototype.toString.call(f))).toBe(true);
  });

  test("bad arguments are refused when the test is defined", () => {
    expect(() => quartetTest(5 as unknown as () => void)).toThrow(TypeError);
    expect(() => quartetTest(async () => {}, 5 as never)).toThrow(TypeError);
    expect(() => quartetTest(async () => {}, { clock: "system" as never })).toThrow(RangeError);
    expect(() => quartetTest(async () => {}, { clock: {} as never })).toThrow(TypeError);
    expect(() => quartetTest(async () => {}, { guard: "loud" as never })).toThrow(RangeError);
    expect(() => quartetTest(async () => {}, { guard: true as never })).toThrow(TypeError);
    expect(() => quartetTest(async () => {}, { guard: "off", clock: "mock" })).not.toThrow();
  });
});

describe("quartetTest and the generator guard", () => {
  async function* ticks(): AsyncGenerator<number> {
    for (let i = 0; ; i++) {
      yield i;
      await sleep(10);
    }
  }

  /** Resumes a generator from inside a timeout scope it did not yield in. */
  async function misuse(): Promise<unknown> {
    const it = ticks();
    await it.next();
    try {
      await moveOnAfter(1000, () => it.next());
      return "allowed";
    } catch (e) {
      return e;
    } finally {
      await it.return(undefined);
    }
  }

  test("is installed in throw mode by default, for the test's duration only", async () => {
    const inside = await quartetTest(misuse)();
    expect(inside).toBeInstanceOf(RuntimeError);
    expect((inside as Error).name).toBe("GeneratorGuardError");
    // Uninstalled afterwards: the same code outside quartetTest is not refused.
    const outside = await quartetTest(misuse, { guard: "off" })();
    expect(outside).toBe("allowed");
  });

  test('"warn" reports without refusing', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on("warning", onWarning);
    try {
      expect(await quartetTest(misuse, { guard: "warn" })()).toBe("allowed");
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.some((w) => /ticks/.test(w.message))).toBe(true);
  });
});
