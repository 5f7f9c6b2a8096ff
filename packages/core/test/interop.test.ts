// Bridges to foreign promises: scope.signal, currentSignal(), cancellable(), AbortError recognition.
import { setTimeout as delay } from "node:timers/promises";
import { describe, expect, test } from "vitest";
import {
  CancelScope,
  Cancelled,
  ExceptionGroup,
  cancellable,
  currentSignal,
  failAfter,
  moveOnAfter,
  openNursery,
  sleepForever,
} from "@quartet/core";
import { currentStatistics, waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

describe("scope.signal", () => {
  test("aborts synchronously inside cancel(), with the Cancelled as reason", () =>
    qrun(async () => {
      const scope = new CancelScope();
      await scope.run(async () => {
        const signal = scope.signal;
        expect(signal.aborted).toBe(false);
        scope.cancel("enough");
        expect(signal.aborted).toBe(true);
        expect(signal.reason).toBeInstanceOf(Cancelled);
        expect((signal.reason as Cancelled).reason).toBe("enough");
      });
    }));

  test("aborts on deadline expiry and on a visible outer cancel, not through a shield", () =>
    qrun(async () => {
      const outer = new CancelScope();
      await outer.run(async () => {
        await new CancelScope({ shield: true }).run(async (shielded) => {
          await new CancelScope().run(async (inner) => {
            const sig = inner.signal;
            const shieldSig = shielded.signal;
            outer.cancel();
            expect(sig.aborted).toBe(false);
            expect(shieldSig.aborted).toBe(false);
            shielded.shield = false;
            expect(sig.aborted).toBe(true);
            expect(shieldSig.aborted).toBe(true);
          });
        });
      });
      let deadlineSignal: AbortSignal | undefined;
      await moveOnAfter(5, async (s) => {
        deadlineSignal = s.signal;
        await sleepForever();
      });
      expect(deadlineSignal!.aborted).toBe(true);
      expect((deadlineSignal!.reason as Cancelled).source).toBe("deadline");
    }));

  test("a signal taken before entry aborts on cancel() before entry", () => {
    const scope = new CancelScope();
    const sig = scope.signal;
    scope.cancel();
    expect(sig.aborted).toBe(true);
  });

  test("an AbortError caused by the scope's own signal counts as its cancellation", () =>
    qrun(async () => {
      const scope = new CancelScope();
      const v = await scope.run(async () => {
        const p = delay(10_000, undefined, { signal: scope.signal });
        scope.cancel();
        await p;
        return "not reached";
      });
      expect(v).toBeUndefined();
      expect(scope.cancelledCaught).toBe(true);
    }));

  test("an AbortError from a foreign controller in a scope that is not cancelled stays an error", () =>
    qrun(async () => {
      const ac = new AbortController();
      const scope = new CancelScope();
      const e = await rejection(
        scope.run(async () => {
          const p = delay(10_000, undefined, { signal: ac.signal });
          ac.abort();
          await p;
        }),
      );
      expect((e as Error).name).toBe("AbortError");
      expect(scope.cancelledCaught).toBe(false);
    }));

  test("AbortErrors inside a nursery group are stripped by the cancelled scope", () =>
    qrun(async () => {
      const scope = new CancelScope();
      await scope.run(async () => {
        await openNursery(async (n) => {
          n.startSoon(() => delay(10_000, undefined, { signal: currentSignal() }));
          await waitAllTasksBlocked();
          scope.cancel();
        });
      });
      expect(scope.cancelledCaught).toBe(true);
    }));
});

describe("currentSignal()", () => {
  test("follows the current effective cancel status", () =>
    qrun(async () => {
      await openNursery(async (n) => {
        let childSignal: AbortSignal | undefined;
        n.startSoon(async () => {
          childSignal = currentSignal();
          await sleepForever();
        });
        await waitAllTasksBlocked();
        expect(childSignal!.aborted).toBe(false);
        n.cancelScope.cancel();
        expect(childSignal!.aborted).toBe(true);
      });
    }));

  test("is already aborted in a cancelled scope", () =>
    qrun(async () => {
      await new CancelScope().run(async (s) => {
        s.cancel();
        expect(currentSignal().aborted).toBe(true);
      });
    }));
});

describe("cancellable()", () => {
  test("resolves and rejects with the foreign outcome", () =>
    qrun(async () => {
      expect(await cancellable(Promise.resolve(3))).toBe(3);
      expect(await cancellable(async (signal) => (signal.aborted ? 0 : 4))).toBe(4);
      const e = new TypeError("foreign");
      expect(await rejection(cancellable(Promise.reject(e)))).toBe(e);
      expect(await rejection(cancellable(() => {
        throw e;
      }))).toBe(e);
    }));

  test("rejects with Cancelled promptly even if the foreign promise never settles", () =>
    qrun(async () => {
      const never = new Promise<never>(() => {});
      const scope = new CancelScope({ relativeDeadline: 5 });
      await scope.run(() => cancellable(never));
      expect(scope.cancelledCaught).toBe(true);
      expect(currentStatistics().foreignWaits).toBe(0);
    }));

  test("a late rejection of an abandoned promise is never unhandled", () =>
    qrun(async () => {
      let rejectLater!: (e: unknown) => void;
      const foreign = new Promise((_, rej) => {
        rejectLater = rej;
      });
      await moveOnAfter(1, () => cancellable(foreign));
      rejectLater(new Error("late"));
      await delay(5);
    }));

  test("passes the signal, which aborts with the Cancelled when the task is cancelled", () =>
    qrun(async () => {
      let seen: AbortSignal | undefined;
      const e = await rejection(
        failAfter(5, () =>
          cancellable((signal) => {
            seen = signal;
            return delay(10_000, undefined, { signal });
          }),
        ),
      );
      expect(e).toHaveProperty("name", "TooSlowError");
      expect(seen!.aborted).toBe(true);
      expect(seen!.reason).toBeInstanceOf(Cancelled);
    }));

  test("in a cancelled scope it raises without calling the function", () =>
    qrun(async () => {
      let called = false;
      await new CancelScope().run(async (s) => {
        s.cancel();
        const e = await rejection(
          cancellable(async () => {
            called = true;
          }),
        );
        expect(e).toBeInstanceOf(Cancelled);
        await rejection(cancellable(Promise.reject(new Error("handled"))));
      });
      expect(called).toBe(false);
    }));

  test("bad input", () => {
    expect(() => cancellable(5 as never)).toThrow(/cancellable: work must be a promise or a function/);
    expect(() => cancellable(null as never)).toThrow(TypeError);
  });

  test("foreign failures inside nurseries are grouped like any error", () =>
    qrun(async () => {
      const e = await rejection(
        openNursery(async (n) => {
          n.startSoon(() => cancellable(Promise.reject(new RangeError("x"))));
        }),
      );
      expect(e).toBeInstanceOf(ExceptionGroup);
    }));
});
