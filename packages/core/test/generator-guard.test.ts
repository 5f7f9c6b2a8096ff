// The generator guard: async generators resumed under a cancel scope they did not yield in.
import { Readable } from "node:stream";
import { afterEach, describe, expect, test } from "vitest";
import {
  CancelScope,
  GeneratorGuardError,
  RuntimeError,
  TooSlowError,
  failAfter,
  installGeneratorGuard,
  moveOnAfter,
  openNursery,
  sleep,
  sleepForever,
  type GuardViolation,
  type Nursery,
} from "@quartet/core";
import { ParkingLot } from "@quartet/core/lowlevel";
import { autojump, installLeakCheck, qrun, rejection, settleMacrotasks } from "./helpers.js";

installLeakCheck();

// @quartet/channels depends on core; the real asSafeChannel is used when it is there, but core's tests
// must not need it.
type Channels = {
  asSafeChannel?: <T>(genFn: () => AsyncGenerator<T>) => () => { receive(): Promise<T>; [Symbol.asyncDispose](): Promise<void> };
};
const channels: Channels = await import("@quartet/channels").catch(() => ({}));

const AGP = Object.getPrototypeOf(async function* () {}.prototype) as Record<"next" | "return" | "throw", Function>;
const ORIGINAL = { next: AGP.next, return: AGP.return, throw: AGP.throw };
const THIS_FILE = "generator-guard.test.ts";

afterEach(() => {
  // Every test uninstalls what it installed: a leaked guard would change every later test.
  expect({ next: AGP.next, return: AGP.return, throw: AGP.throw }).toEqual(ORIGINAL);
});

/** Installs the guard around `fn`, collecting what it reports. */
async function guarded<T>(
  mode: "warn" | "throw",
  fn: (seen: GuardViolation[]) => Promise<T>,
): Promise<{ value: T; seen: GuardViolation[] }> {
  const seen: GuardViolation[] = [];
  const uninstall = installGeneratorGuard({ mode, onViolation: (v) => seen.push(v) });
  try {
    return { value: await fn(seen), seen };
  } finally {
    uninstall();
  }
}

const kinds = (seen: GuardViolation[]): string[] => seen.map((v) => v.kind);

/** Counts the steps its body actually ran, so a refused step can be told from a run one. */
function counted() {
  const log: string[] = [];
  async function* numbers(): AsyncGenerator<number> {
    try {
      for (let i = 0; ; i++) {
        log.push(`step ${i}`);
        await sleep(1);
        yield i;
      }
    } catch (e) {
      log.push(`caught ${(e as Error).name}`);
      throw e;
    } finally {
      log.push("finally");
    }
  }
  return { log, it: numbers() };
}

describe("violations", () => {
  test("next() inside moveOnAfter after the generator yielded elsewhere", () =>
    autojump(async () => {
      const { value, seen } = await guarded("warn", async () => {
        const { it } = counted();
        await it.next();
        const r = await moveOnAfter(100, () => it.next()); // <- resuming site
        await it.return(undefined);
        return r;
      });
      expect(value).toEqual({ value: 1, done: false });
      expect(kinds(seen)).toEqual(["yield-across-scope"]);
      const v = seen[0]!;
      expect(v.generatorName).toBe("numbers");
      expect(v.scopeCreatedAt).toContain(THIS_FILE);
      expect(v.message).toContain("numbers");
      expect(v.message).toContain("next()");
      expect(v.message).toContain(THIS_FILE);
      expect(v.message).toContain("asSafeChannel");
      expect(v.message).toContain("receive()");
    }));

  test("next() inside failAfter", () =>
    autojump(async () => {
      const { seen } = await guarded("warn", async () => {
        const { it } = counted();
        await it.next();
        await failAfter(100, () => it.next());
        await it.return(undefined);
      });
      expect(kinds(seen)).toEqual(["yield-across-scope"]);
      expect(seen[0]!.scopeCreatedAt).toContain(THIS_FILE);
    }));

  test("next() in a nursery body opened after the generator started", () =>
    autojump(async () => {
      const { seen } = await guarded("warn", async () => {
        const { it } = counted();
        await it.next();
        await openNursery(async () => {
          await it.next();
        });
        await it.return(undefined);
      });
      expect(kinds(seen)).toEqual(["yield-across-scope"]);
      expect(seen[0]!.scopeCreatedAt).toContain(THIS_FILE);
    }));

  test("next() in a CancelScope.run body, after awaits inside the scope", () =>
    autojump(async () => {
      const { seen } = await guarded("warn", async () => {
        const { it } = counted();
        await it.next();
        await new CancelScope().run(async () => {
          await sleep(1);
          await it.next();
        });
        await it.return(undefined);
      });
      expect(kinds(seen)).toEqual(["yield-across-scope"]);
      expect(seen[0]!.scopeCreatedAt).toContain(THIS_FILE);
    }));

  test("consumption moved into a child task of a nursery", () =>
    autojump(async () => {
      const { seen } = await guarded("warn", async () => {
        const { it } = counted();
        await it.next();
        await openNursery(async (n) => {
          n.startSoon(async () => {
            await it.next();
          });
        });
        await it.return(undefined);
      });
      expect(kinds(seen)).toEqual(["yield-across-scope"]);
    }));

  test("return() and throw() inside moveOnAfter", () =>
    autojump(async () => {
      const { seen } = await guarded("warn", async () => {
        const a = counted();
        await a.it.next();
        await moveOnAfter(100, () => a.it.return(undefined));
        expect(a.log).toContain("finally");
        const b = counted();
        await b.it.next();
        const err = await moveOnAfter(100, () => rejection(b.it.throw(new Error("boom"))));
        expect((err as Error).message).toBe("boom");
      });
      expect(kinds(seen)).toEqual(["yield-across-scope", "yield-across-scope"]);
      expect(seen[0]!.message).toContain("return()");
      expect(seen[1]!.message).toContain("throw()");
    }));

  test("yield* delegation resumed under a foreign scope is reported once, for the outer generator", () =>
    autojump(async () => {
      const { seen } = await guarded("warn", async () => {
        async function* inner() {
          yield 1;
          yield 2;
        }
        async function* outer() {
          yield* inner();
        }
        const it = outer();
        await it.next();
        expect(await moveOnAfter(100, () => it.next())).toEqual({ value: 2, done: false });
        expect(await it.next()).toEqual({ value: undefined, done: true });
      });
      expect(seen.map((v) => [v.kind, v.generatorName])).toEqual([["yield-across-scope", "outer"]]);
    }));

  test("a deadline that fires inside the body: cancelled-inside-generator, and the Cancelled passes through", () =>
    autojump(async () => {
      const { log, it } = counted();
      const scope = new CancelScope({ relativeDeadline: 0.5 });
      const { value, seen } = await guarded("warn", async () => {
        await it.next();
        return scope.run(() => it.next());
      });
      // The scope caught its own Cancelled, which left the generator's body: the generator is dead.
      expect(value).toBeUndefined();
      expect(scope.cancelledCaught).toBe(true);
      expect(log).toEqual(["step 0", "step 1", "caught Cancelled", "finally"]);
      expect(await it.next()).toEqual({ value: undefined, done: true });
      expect(kinds(seen)).toEqual(["yield-across-scope", "cancelled-inside-generator"]);
      expect(seen[1]!.generatorName).toBe("numbers");
      expect(seen[1]!.message).toContain("numbers");
      expect(seen[1]!.message).toContain("asSafeChannel");
    }));

  test("outside run(), on the implicit runtime: moveOnAfter around next()", async () => {
    const { seen } = await guarded("warn", async () => {
      async function* letters() {
        yield "a";
        yield "b";
        yield "c";
      }
      const it = letters();
      // No deadline: a scope is enough, and the implicit runtime keeps no timer for the next test.
      for (let i = 0; i < 3; i++) await moveOnAfter(Infinity, () => it.next());
    });
    // The first step inside a scope only records where the generator is.
    expect(kinds(seen)).toEqual(["yield-across-scope"]);
    expect(seen[0]!.generatorName).toBe("letters");
  });
});

describe("the seed scenario: a producer with irregular gaps, a per-item timeout", () => {
  const GAPS = [5, 50, 5, 150, 5];
  async function* produce(): AsyncGenerator<number> {
    for (let i = 0; i < GAPS.length; i++) {
      await sleep(GAPS[i]!);
      yield i;
    }
  }

  test("wrong: moveOnAfter(…, () => it.next()) kills the producer at the first timeout", () =>
    autojump(async () => {
      const got: number[] = [];
      let timeouts = 0;
      const { seen } = await guarded("warn", async () => {
        const it = produce();
        for (;;) {
          const r = await moveOnAfter(100, () => it.next());
          if (r === undefined) {
            timeouts++;
            continue;
          }
          if (r.done) break;
          got.push(r.value);
        }
      });
      expect(got).toEqual([0, 1, 2]); // items 3 and 4 are lost
      expect(timeouts).toBe(1);
      // Reported once per site, however many steps moved.
      expect(kinds(seen)).toEqual(["yield-across-scope", "cancelled-inside-generator"]);
    }));

  test("wrong, in throw mode: the second step is refused before the body runs", () =>
    autojump(async () => {
      await guarded("throw", async (seen) => {
        const it = produce();
        expect(await moveOnAfter(100, () => it.next())).toEqual({ value: 0, done: false });
        const err = await rejection(moveOnAfter(100, () => it.next()));
        expect(err).toBeInstanceOf(GeneratorGuardError);
        expect(kinds(seen)).toEqual(["yield-across-scope"]);
        await it.return(undefined);
      });
    }));

  test("right: the generator runs in its own task, the timeout is around receive()", () =>
    autojump(async () => {
      const got: number[] = [];
      let timeouts = 0;
      const { seen } = await guarded("throw", () =>
        openNursery(async (n) => {
          const rx = safeChannel(n, produce());
          for (;;) {
            const r = await moveOnAfter(100, () => rx.receive());
            if (r === undefined) {
              timeouts++;
              continue;
            }
            if (r.done) break;
            got.push(r.value);
          }
        }),
      );
      expect(got).toEqual([0, 1, 2, 3, 4]);
      expect(timeouts).toBe(1);
      expect(seen).toEqual([]);
    }));
});

/**
 * A stand-in for asSafeChannel: the generator is driven by its own task (pull-driven), the consumer
 * receives from a one-slot hand-off whose receive() is an ordinary cancellable wait.
 */
function safeChannel<T>(n: Nursery, gen: AsyncGenerator<T>) {
  const slot: IteratorResult<T>[] = [];
  const wantLot = new ParkingLot("want");
  const haveLot = new ParkingLot("have");
  let wanted = 0;
  n.startSoon(async () => {
    try {
      for (;;) {
        while (wanted === 0) await wantLot.park();
        wanted--;
        const r = await gen.next();
        slot.push(r);
        haveLot.unparkAll();
        if (r.done) return;
      }
    } finally {
      await gen.return(undefined);
    }
  }, { name: "generator" });
  return {
    async receive(): Promise<IteratorResult<T>> {
      if (slot.length === 0) {
        if (wanted === 0) {
          wanted++;
          wantLot.unparkAll();
        }
        while (slot.length === 0) await haveLot.park();
      }
      return slot.shift()!;
    },
    close(): void {
      n.cancelScope.cancel();
    },
  };
}

describe("no violations", () => {
  test.skipIf(channels.asSafeChannel === undefined)("asSafeChannel: timeouts around receive(), then disposal mid-step", () =>
    autojump(async () => {
      const { log, it } = counted();
      const numbers = channels.asSafeChannel!(() => it);
      const { seen } = await guarded("throw", async () => {
        const rx = numbers();
        try {
          expect(await moveOnAfter(100, () => rx.receive())).toBe(0);
          expect(await moveOnAfter(0.5, () => rx.receive())).toBeUndefined();
          expect(await moveOnAfter(100, () => rx.receive())).toBe(1);
          void rx.receive().catch(() => {});
          await sleep(0.5);
        } finally {
          await rx[Symbol.asyncDispose]();
        }
      });
      expect(log.at(-1)).toBe("finally");
      expect(seen).toEqual([]);
    }));

  test("for await inside a task, with a deadline around the whole loop that fires", () =>
    autojump(async () => {
      const { log, it } = counted();
      const { seen } = await guarded("throw", async () => {
        await moveOnAfter(5.5, async () => {
          for await (const x of it) void x;
        });
      });
      expect(log).toContain("caught Cancelled");
      expect(seen).toEqual([]);
    }));

  test("for await in child tasks, and break", () =>
    autojump(async () => {
      const { seen } = await guarded("throw", () =>
        openNursery(async (n) => {
          for (let t = 0; t < 3; t++) {
            n.startSoon(async () => {
              const { log, it } = counted();
              for await (const x of it) if (x === 2) break;
              expect(log.at(-1)).toBe("finally");
            });
          }
        }),
      );
      expect(seen).toEqual([]);
    }));

  test("yield* delegation", () =>
    autojump(async () => {
      const { seen } = await guarded("throw", async () => {
        async function* inner() {
          await sleep(1);
          yield 1;
          await sleep(1);
          yield 2;
        }
        async function* outer() {
          yield 0;
          yield* inner();
          yield* inner();
        }
        const got: number[] = [];
        await moveOnAfter(1000, async () => {
          for await (const x of outer()) got.push(x);
        });
        expect(got).toEqual([0, 1, 2, 1, 2]);
      });
      expect(seen).toEqual([]);
    }));

  test("a generator driven by its own task, closed by cancelling that task mid-step", () =>
    autojump(async () => {
      const { log, it } = counted();
      const { seen } = await guarded("throw", () =>
        openNursery(async (n) => {
          const rx = safeChannel(n, it);
          expect(await moveOnAfter(100, () => rx.receive())).toEqual({ value: 0, done: false });
          expect(await moveOnAfter(0.5, () => rx.receive())).toBeUndefined(); // timeout: the generator lives on
          rx.close(); // cancels the generator's task while its step sleeps
        }),
      );
      expect(log).toEqual(["step 0", "step 1", "caught Cancelled", "finally"]);
      expect(seen).toEqual([]);
    }));

  test("Promise.all inside one scope, including async branches", () =>
    autojump(async () => {
      const { seen } = await guarded("throw", async () => {
        const { it } = counted();
        await it.next();
        const rs = await Promise.all([it.next(), it.next(), (async () => it.next())(), Promise.resolve().then(() => it.next())]);
        expect(rs.map((r) => r.value)).toEqual([1, 2, 3, 4]);
        await moveOnAfter(1000, async () => {
          const g = counted().it;
          await Promise.all([g.next(), g.next(), (async () => g.next())()]);
          await g.return(undefined);
        });
        await it.return(undefined);
      });
      expect(seen).toEqual([]);
    }));

  test("resuming from an enclosing scope after yielding in an inner one", () =>
    autojump(async () => {
      const { seen } = await guarded("throw", async () => {
        const { it } = counted();
        await moveOnAfter(1000, () => it.next());
        await it.next();
        await it.return(undefined);
      });
      expect(seen).toEqual([]);
    }));

  test("handed from one task to a sibling: no scope is added", () =>
    autojump(async () => {
      const { it } = counted();
      const { seen } = await guarded("throw", () =>
        openNursery(async (n) => {
          n.startSoon(async () => void (await it.next()));
          await sleep(10);
          n.startSoon(async () => void (await it.next()));
        }),
      );
      await it.return(undefined);
      expect(seen).toEqual([]);
    }));

  test("return() on a finished generator from another scope", () =>
    autojump(async () => {
      const { seen } = await guarded("throw", async () => {
        async function* two() {
          yield 1;
          yield 2;
        }
        const it = two();
        for await (const x of it) void x;
        expect(await moveOnAfter(100, () => (it as AsyncGenerator<number, unknown>).return(7))).toEqual({ value: 7, done: true });
        expect(await moveOnAfter(100, () => it.next())).toEqual({ value: undefined, done: true });
      });
      expect(seen).toEqual([]);
    }));

  test("generators used with no Quartet scope at all", async () => {
    const { seen } = await guarded("throw", async () => {
      const { it } = counted();
      await it.next();
      await it.next();
      await it.return(undefined);
      async function* plain() {
        yield 1;
        await new Promise((r) => setImmediate(r));
        yield 2;
      }
      const got: number[] = [];
      for await (const x of plain()) got.push(x);
      expect(got).toEqual([1, 2]);
    });
    expect(seen).toEqual([]);
  });

  test("generators of Node's own modules", () =>
    qrun(async () => {
      const { seen } = await guarded("throw", async () => {
        const it = Readable.from(["a", "b", "c"])[Symbol.asyncIterator]();
        expect((await it.next()).value).toBe("a");
        expect((await moveOnAfter(1000, () => it.next()))?.value).toBe("b");
        await moveOnAfter(1000, () => it.return!());
      });
      expect(seen).toEqual([]);
    }));
});

describe("warn and throw", () => {
  test("warn without onViolation: process.emitWarning, once per generator and site", async () => {
    const warnings: Error[] = [];
    const listener = (w: Error): void => {
      if ((w as { code?: string }).code === "QUARTET_GENERATOR_GUARD") warnings.push(w);
    };
    process.on("warning", listener);
    const uninstall = installGeneratorGuard();
    try {
      await autojump(async () => {
        const a = counted();
        await a.it.next();
        for (let i = 0; i < 3; i++) await moveOnAfter(100, () => a.it.next()); // site 1
        await moveOnAfter(100, () => a.it.next()); // site 2
        await a.it.return(undefined);
        const b = counted();
        await b.it.next();
        for (let i = 0; i < 2; i++) await moveOnAfter(100, () => b.it.next()); // site 3, another generator
        await b.it.return(undefined);
      });
      await settleMacrotasks();
    } finally {
      uninstall();
      process.off("warning", listener);
    }
    expect(warnings).toHaveLength(3);
    expect(warnings[0]!.message).toContain("numbers");
    expect(warnings[0]!.message).toContain(THIS_FILE);
  });

  test("throw: the step is refused before the body runs; the generator stays usable from its own scope", () =>
    autojump(async () => {
      await guarded("throw", async (seen) => {
        const { log, it } = counted();
        expect(await it.next()).toEqual({ value: 0, done: false });
        for (const call of [() => it.next(), () => it.return(5), () => it.throw(new Error("x"))]) {
          const err = await rejection(moveOnAfter(100, call));
          expect(err).toBeInstanceOf(GeneratorGuardError);
          expect(err).toBeInstanceOf(RuntimeError);
          expect((err as GeneratorGuardError).violation).toMatchObject({ kind: "yield-across-scope", generatorName: "numbers" });
          expect((err as Error).message).toBe((err as GeneratorGuardError).violation.message);
        }
        // Every offending call goes to onViolation in throw mode (no once-per-site).
        expect(kinds(seen)).toEqual(["yield-across-scope", "yield-across-scope", "yield-across-scope"]);
        expect(log).toEqual(["step 0"]);
        expect(await it.next()).toEqual({ value: 1, done: false });
        expect(await it.return(9)).toEqual({ value: 9, done: true });
        expect(log).toEqual(["step 0", "step 1", "finally"]);
      });
    }));

  test("throw inside failAfter: the guard error wins over the deadline", () =>
    autojump(async () => {
      await guarded("throw", async () => {
        const { it } = counted();
        await it.next();
        const err = await rejection(failAfter(100, () => it.next()));
        expect(err).toBeInstanceOf(GeneratorGuardError);
        expect(err).not.toBeInstanceOf(TooSlowError);
        await it.return(undefined);
      });
    }));

  test("throw mode without onViolation reports nothing else", () =>
    autojump(async () => {
      const uninstall = installGeneratorGuard({ mode: "throw" });
      try {
        const { it } = counted();
        await it.next();
        expect(await rejection(moveOnAfter(100, () => it.next()))).toBeInstanceOf(GeneratorGuardError);
        await it.return(undefined);
      } finally {
        uninstall();
      }
    }));

  test("an exception thrown by onViolation does not change the step", () =>
    autojump(async () => {
      const errors: unknown[] = [];
      const onUncaught = (e: unknown): void => void errors.push(e);
      // vitest reports uncaught errors; take this one over for the test.
      const listeners = process.listeners("uncaughtException");
      process.removeAllListeners("uncaughtException");
      process.on("uncaughtException", onUncaught);
      const uninstall = installGeneratorGuard({
        onViolation: () => {
          throw new Error("from onViolation");
        },
      });
      try {
        const { it } = counted();
        await it.next();
        expect(await moveOnAfter(100, () => it.next())).toEqual({ value: 1, done: false });
        await it.return(undefined);
        await settleMacrotasks();
      } finally {
        uninstall();
        process.off("uncaughtException", onUncaught);
        for (const l of listeners) process.on("uncaughtException", l);
      }
      expect(errors).toHaveLength(1);
      expect((errors[0] as Error).message).toBe("from onViolation");
    }));
});

describe("generator names", () => {
  test("function, method and anonymous generators", () =>
    autojump(async () => {
      const { seen } = await guarded("warn", async () => {
        const obj = {
          async *items() {
            yield 1;
            yield 2;
          },
        };
        const gens = [obj.items(), (async function* () {
          yield 1;
          yield 2;
        })()];
        for (const g of gens) {
          await g.next();
          await moveOnAfter(100, () => g.next());
        }
      });
      expect(seen.map((v) => v.generatorName)).toEqual(["items", "<anonymous>"]);
    }));
});

describe("installing", () => {
  test("uninstall restores the original methods, and is idempotent", () => {
    const uninstall = installGeneratorGuard();
    expect(AGP.next).not.toBe(ORIGINAL.next);
    expect(AGP.return).not.toBe(ORIGINAL.return);
    expect(AGP.throw).not.toBe(ORIGINAL.throw);
    expect(AGP.next.name).toBe("next");
    expect(AGP.next.length).toBe(1);
    uninstall();
    expect(AGP.next).toBe(ORIGINAL.next);
    expect(AGP.return).toBe(ORIGINAL.return);
    expect(AGP.throw).toBe(ORIGINAL.throw);
    const again = installGeneratorGuard();
    uninstall(); // a stale uninstaller does nothing
    expect(AGP.next).not.toBe(ORIGINAL.next);
    again();
    again();
    expect(AGP.next).toBe(ORIGINAL.next);
  });

  test("installs nest: the latest options apply until its uninstaller runs", () =>
    autojump(async () => {
      const outer: GuardViolation[] = [];
      const inner: GuardViolation[] = [];
      const uninstallOuter = installGeneratorGuard({ mode: "warn", onViolation: (v) => outer.push(v) });
      const uninstallInner = installGeneratorGuard({ mode: "throw", onViolation: (v) => inner.push(v) });
      try {
        const { it } = counted();
        await it.next();
        expect(await rejection(moveOnAfter(100, () => it.next()))).toBeInstanceOf(GeneratorGuardError);
        uninstallInner();
        expect(await moveOnAfter(100, () => it.next())).toEqual({ value: 1, done: false });
        expect(kinds(inner)).toEqual(["yield-across-scope"]);
        expect(kinds(outer)).toEqual(["yield-across-scope"]);
        await it.return(undefined);
      } finally {
        uninstallInner();
        uninstallOuter();
      }
    }));

  test("uninstalling an outer install first keeps the inner one in force", () =>
    autojump(async () => {
      const seen: GuardViolation[] = [];
      const uninstallOuter = installGeneratorGuard({ mode: "warn" });
      const uninstallInner = installGeneratorGuard({ mode: "throw", onViolation: (v) => seen.push(v) });
      try {
        uninstallOuter();
        expect(AGP.next).not.toBe(ORIGINAL.next);
        const { it } = counted();
        await it.next();
        expect(await rejection(moveOnAfter(100, () => it.next()))).toBeInstanceOf(GeneratorGuardError);
        await it.return(undefined);
      } finally {
        uninstallInner();
        uninstallOuter();
      }
      expect(AGP.next).toBe(ORIGINAL.next);
      expect(kinds(seen)).toEqual(["yield-across-scope"]);
    }));

  test("a wrapper captured while installed passes straight through after uninstall", () =>
    autojump(async () => {
      const seen: GuardViolation[] = [];
      const uninstall = installGeneratorGuard({ mode: "throw", onViolation: (v) => seen.push(v) });
      const { it } = counted();
      const got: number[] = [];
      try {
        // for await reads `next` once: this loop keeps the wrapper after the uninstall below.
        for await (const x of it) {
          got.push(x);
          if (x === 0) uninstall();
          if (x === 3) break;
        }
        const captured = (() => {
          const u = installGeneratorGuard({ mode: "throw" });
          const next = AGP.next;
          u();
          return next;
        })();
        const g = counted().it;
        await g.next();
        expect(await moveOnAfter(100, () => captured.call(g))).toEqual({ value: 1, done: false });
        await g.return(undefined);
      } finally {
        uninstall();
      }
      expect(got).toEqual([0, 1, 2, 3]);
      expect(seen).toEqual([]);
    }));

  test("bad options throw synchronously and install nothing", () => {
    const bad: [unknown, typeof TypeError | typeof RangeError][] = [
      [null, TypeError],
      [42, TypeError],
      ["throw", TypeError],
      [{ mode: 1 }, TypeError],
      [{ mode: "loud" }, RangeError],
      [{ mode: "off" }, RangeError],
      [{ onViolation: "log" }, TypeError],
    ];
    for (const [opts, cls] of bad) {
      expect(() => installGeneratorGuard(opts as never)).toThrow(cls);
      expect(AGP.next).toBe(ORIGINAL.next);
    }
    expect(() => installGeneratorGuard({ mode: "loud" } as never)).toThrow(/installGeneratorGuard.*opts\.mode.*"loud"/);
  });

  test("not installed: the prototype's methods are the engine's own", () => {
    expect(Function.prototype.toString.call(AGP.next)).toContain("[native code]");
    expect(Function.prototype.toString.call(AGP.return)).toContain("[native code]");
    expect(Function.prototype.toString.call(AGP.throw)).toContain("[native code]");
  });
});
