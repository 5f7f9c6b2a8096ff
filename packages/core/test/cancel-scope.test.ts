// Trio §5 A: cancel scopes and timeouts, ported scenario by scenario (numbers refer to
// shared/reference/trio-semantics.md §5).
import { describe, expect, test } from "vitest";
import {
  CancelScope,
  Cancelled,
  ExceptionGroup,
  RuntimeError,
  TooSlowError,
  checkpoint,
  currentEffectiveDeadline,
  currentTask,
  currentTime,
  failAfter,
  failAt,
  moveOnAfter,
  moveOnAt,
  openNursery,
  sleep,
  sleepForever,
  sleepUntil,
} from "@quartet/core";
import {
  cancelShieldedCheckpoint,
  checkpointIfCancelled,
  reschedule,
  waitAllTasksBlocked,
  type Task,
} from "@quartet/core/lowlevel";
import { autojump, installLeakCheck, mock, qrun, rejection } from "./helpers.js";

installLeakCheck();

describe("§5 A cancel scopes and timeouts", () => {
  test("1. cancel then checkpoint (test_cancel_points)", () =>
    qrun(async () => {
      await new CancelScope().run(async (scope) => {
        await checkpointIfCancelled();
        scope.cancel();
        expect(await rejection(checkpointIfCancelled())).toBeInstanceOf(Cancelled);
      });
      await new CancelScope().run(async (scope) => {
        await checkpoint();
        scope.cancel();
        expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
      });
      const s = new CancelScope();
      await s.run(async (scope) => {
        scope.cancel();
        await sleepForever();
      });
      expect(s.cancelledCaught).toBe(true);
    }));

  test("2. shielded checkpoints don't raise", () =>
    qrun(async () => {
      const s = new CancelScope();
      await s.run(async () => {
        s.cancel();
        await cancelShieldedCheckpoint();
        await cancelShieldedCheckpoint();
        expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
      });
      expect(s.cancelledCaught).toBe(false);
    }));

  test("3. idempotent cancel and level triggering (test_cancel_edge_cases)", () =>
    qrun(async () => {
      const s = new CancelScope();
      await s.run(async () => {
        s.cancel();
        s.cancel();
        await checkpoint();
      });
      expect([s.cancelCalled, s.cancelledCaught]).toEqual([true, true]);
      const s2 = new CancelScope();
      await s2.run(async () => {
        s2.cancel();
        expect(await rejection(sleepForever())).toBeInstanceOf(Cancelled);
        expect(await rejection(sleepForever())).toBeInstanceOf(Cancelled);
        expect(await rejection(sleep(10))).toBeInstanceOf(Cancelled);
      });
    }));

  test("4. nested scopes: the outermost cancelled one catches (test_cancel_scope_nesting)", () =>
    qrun(async () => {
      const s1 = new CancelScope();
      const s2 = new CancelScope();
      const s3 = new CancelScope();
      await s1.run(() =>
        s2.run(() =>
          s3.run(async () => {
            s3.cancel();
            s2.cancel();
            await sleepForever();
          }),
        ),
      );
      expect([s3.cancelCalled, s3.cancelledCaught]).toEqual([true, false]);
      expect([s2.cancelCalled, s2.cancelledCaught]).toEqual([true, true]);
      expect([s1.cancelCalled, s1.cancelledCaught]).toEqual([false, false]);
    }));

  test("5. a shield blocks outer cancellation only", () =>
    qrun(async () => {
      const s1 = new CancelScope();
      const s2 = new CancelScope();
      await s1.run(() =>
        s2.run(async () => {
          s1.cancel();
          expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
          expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
          s2.shield = true;
          await checkpoint();
          s2.cancel();
          expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
        }),
      );
    }));

  test("6. a pending cancel that is never delivered is not caught", () =>
    qrun(async () => {
      const s = new CancelScope();
      await s.run(async () => {
        s.cancel();
        await cancelShieldedCheckpoint();
      });
      expect(s.cancelledCaught).toBe(false);
      await checkpoint();
    }));

  test("7. cancel after the last checkpoint", () =>
    qrun(async () => {
      const s = new CancelScope();
      const v = await s.run(async () => {
        await checkpoint();
        s.cancel();
        return "done";
      });
      expect(v).toBe("done");
      expect([s.cancelCalled, s.cancelledCaught]).toEqual([true, false]);
    }));

  test("8. shield toggling (test_cancel_shielding)", () =>
    qrun(async () => {
      const outer = new CancelScope();
      const inner = new CancelScope();
      await outer.run(async () => {
        outer.cancel();
        await inner.run(async () => {
          expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
          inner.shield = true;
          await checkpoint();
          const nested = new CancelScope();
          await nested.run(async () => {
            nested.cancel();
            expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
          });
          inner.shield = false;
          expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
          inner.shield = true;
          await checkpoint();
          inner.cancel();
          await checkpoint();
        });
        expect(inner.cancelledCaught).toBe(true);
        expect(() => {
          (inner as { shield: unknown }).shield = "hello";
        }).toThrow(TypeError);
        expect(inner.shield).toBe(true);
      });
      expect(outer.cancelledCaught).toBe(false);
    }));

  test("9. un-shielding wakes parked children at once (test_cancel_shield_abort)", () =>
    qrun(async () => {
      const log: string[] = [];
      const outer = new CancelScope();
      await outer.run(async () => {
        outer.cancel();
        await openNursery(async (n) => {
          n.cancelScope.shield = true;
          n.startSoon(async () => {
            log.push("sleeping");
            try {
              await sleepForever();
            } catch (e) {
              log.push("cancelled");
              throw e;
            }
          });
          await waitAllTasksBlocked();
          n.cancelScope.shield = false;
          await cancelShieldedCheckpoint();
          await cancelShieldedCheckpoint();
          log.push("body done");
        });
      });
      expect(log).toEqual(["sleeping", "cancelled", "body done"]);
      expect(outer.cancelledCaught).toBe(true);
    }));

  test("10. shield set while Cancelled propagates (test_unshield_while_cancel_propagating)", () =>
    qrun(async () => {
      const outer = new CancelScope();
      const inner = new CancelScope();
      await outer.run(() =>
        inner.run(async () => {
          outer.cancel();
          try {
            await checkpoint();
          } finally {
            inner.shield = true;
          }
        }),
      );
      expect(outer.cancelledCaught).toBe(true);
      expect(inner.cancelledCaught).toBe(false);
    }));

  test("11. cancel before entry, entered by another task (test_cancel_unbound)", () =>
    autojump(async () => {
      const cs = new CancelScope();
      cs.cancel();
      const t0 = currentTime();
      let outcome = "none";
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await cs.run(() => failAfter(1000, () => sleepForever()));
          outcome = "returned";
        });
      });
      expect(outcome).toBe("returned");
      expect(currentTime()).toBe(t0);
      expect(cs.cancelledCaught).toBe(true);
    }));

  test("12. shield set before entry", () =>
    qrun(async () => {
      const outer = new CancelScope();
      await outer.run(async () => {
        outer.cancel();
        const s = new CancelScope();
        s.shield = true;
        await s.run(async () => {
          await checkpoint();
          s.shield = false;
          expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
        });
      });
    }));

  test("13. a scope is single use", () =>
    qrun(async () => {
      const used = new CancelScope();
      await used.run(() => undefined);
      expect(await rejection(used.run(() => undefined))).toBeInstanceOf(RuntimeError);
      const active = new CancelScope();
      await active.run(async () => {
        const e = await rejection(active.run(() => undefined));
        expect(e).toBeInstanceOf(RuntimeError);
        expect(String(e)).toMatch(/single/);
        await openNursery(async (n) => {
          n.startSoon(async () => {
            expect(await rejection(active.run(() => undefined))).toBeInstanceOf(RuntimeError);
          });
        });
      });
    }));

  test("14. cancelCalled flips when read after the deadline passed (test_cancel_unbound tail)", () =>
    mock(async () => {
      const s = new CancelScope({ deadline: currentTime() + 1 });
      expect(s.cancelCalled).toBe(false);
      s.deadline -= 1;
      expect(s.cancelCalled).toBe(true);
      s.deadline += 1;
      expect(s.cancelCalled).toBe(true);
    }));

  test("15. relative deadlines start on entry (test_timeout_deadline_on_entry)", () =>
    mock(async (clock) => {
      const rcs = new CancelScope({ relativeDeadline: 5 });
      expect(rcs.relativeDeadline).toBe(5);
      expect(rcs.isRelative).toBe(true);
      clock.jump(3);
      const start = currentTime();
      await rcs.run(async () => {
        expect(rcs.deadline).toBe(start + 5);
        expect(rcs.isRelative).toBe(null);
        rcs.deadline = start + 3;
        expect(rcs.relativeDeadline).toBe(3);
        rcs.relativeDeadline = 4;
        expect(rcs.deadline).toBe(start + 4);
      });
      const m = moveOnAfter(5, (scope) => scope.deadline);
      expect(await m).toBe(start + 5);
    }));

  test("16. unentered access errors (test_invalid_access_unentered)", () =>
    qrun(async () => {
      const rel = new CancelScope({ relativeDeadline: 5 });
      expect(() => rel.deadline).toThrow(RuntimeError);
      expect(() => {
        rel.deadline = 7;
      }).toThrow(RuntimeError);
      expect(rel.relativeDeadline).toBe(5);
      expect(rel.isRelative).toBe(true);
      const abs = new CancelScope({ deadline: 5 });
      expect(() => abs.relativeDeadline).toThrow(RuntimeError);
      expect(() => {
        abs.relativeDeadline = 3;
      }).toThrow(RuntimeError);
      expect(abs.isRelative).toBe(false);
      const none = new CancelScope();
      expect(none.relativeDeadline).toBe(Infinity);
      none.relativeDeadline = 7;
      expect(none.isRelative).toBe(true);
    }));

  test("17. validation (test_cancel_scope_validation, test_timeouts_raise_value_error)", () => {
    expect(() => new CancelScope({ deadline: 1, relativeDeadline: 1 })).toThrow(RangeError);
    expect(() => new CancelScope({ deadline: NaN })).toThrow(RangeError);
    expect(() => new CancelScope({ relativeDeadline: NaN })).toThrow(RangeError);
    expect(() => new CancelScope({ relativeDeadline: -1 })).toThrow(RangeError);
    expect(() => sleep(-1)).toThrow(RangeError);
    expect(() => sleep(NaN)).toThrow(RangeError);
    expect(() => sleepUntil(NaN)).toThrow(RangeError);
    const fn = () => undefined;
    expect(() => failAfter(-1, fn)).toThrow(RangeError);
    expect(() => failAfter(NaN, fn)).toThrow(RangeError);
    expect(() => failAt(NaN, fn)).toThrow(RangeError);
    expect(() => moveOnAfter(-1, fn)).toThrow(RangeError);
    expect(() => moveOnAfter(NaN, fn)).toThrow(RangeError);
    expect(() => moveOnAt(NaN, fn)).toThrow(RangeError);
    expect(() => moveOnAfter(-1, fn)).toThrow(/moveOnAfter: ms .*-1/);
    expect(() => new CancelScope({ deadline: -Infinity })).not.toThrow();
  });

  test("18. basic timeouts on a mock clock (test_basic_timeout)", () =>
    mock(async (clock) => {
      const start = currentTime();
      const a = new CancelScope({ deadline: start + 1 });
      await a.run(() => undefined);
      clock.jump(2);
      expect(a.cancelCalled).toBe(false);

      const b = new CancelScope({ deadline: currentTime() + 1 });
      clock.jump(2);
      await b.run(() => sleepForever());
      expect([b.cancelCalled, b.cancelledCaught]).toEqual([true, true]);

      const c = new CancelScope();
      await c.run(async () => {
        c.deadline = currentTime() + 10;
        clock.jump(5);
        await checkpoint();
        c.deadline = currentTime() - 4;
        expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
        expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
      });
    }));

  test("19. extending the deadline while active", () =>
    autojump(async () => {
      const s = new CancelScope({ deadline: currentTime() + 1000 });
      await s.run(async () => {
        await sleep(500);
        s.deadline += 10_000;
        await sleep(5000);
        s.relativeDeadline = 0;
        expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
      });
      expect(s.cancelledCaught).toBe(false);
    }));

  test("20. a jump past the deadline is seen at the next checkpoint (test_yield_briefly_checks_for_timeout)", () =>
    mock(async (clock) => {
      const s = new CancelScope({ deadline: currentTime() + 5 });
      await s.run(async () => {
        await checkpoint();
        clock.jump(10);
        await checkpoint();
      });
      expect(s.cancelledCaught).toBe(true);
    }));

  test("21. moveOnAfter(0)", () =>
    qrun(async () => {
      let scope: CancelScope | undefined;
      const v = await moveOnAfter(0, (s) => {
        scope = s;
        return "completed";
      });
      expect(v).toBe("completed");
      expect([scope!.cancelCalled, scope!.cancelledCaught]).toEqual([true, false]);
      let scope2: CancelScope | undefined;
      await moveOnAfter(0, async (s) => {
        scope2 = s;
        await sleep(0);
      });
      expect(scope2!.cancelledCaught).toBe(true);
    }));

  test("22. moveOnAt(now) swallows the Cancelled of sleep(0) (test_sleep)", () =>
    mock(async () => {
      let reached = false;
      const s = await moveOnAt(currentTime(), async (scope) => {
        await sleep(0);
        reached = true;
        return scope;
      });
      expect(s).toBeUndefined();
      expect(reached).toBe(false);
    }));

  test("23. failAfter (test_fail)", () =>
    autojump(async () => {
      const t0 = currentTime();
      expect(await rejection(failAfter(1000, () => sleep(100_000)))).toBeInstanceOf(TooSlowError);
      expect(currentTime() - t0).toBe(1000);
      expect(await failAfter(100_000, async () => {
        await sleep(0);
        return 7;
      })).toBe(7);
      const t1 = currentTime();
      expect(await rejection(failAt(t1 + 10, () => sleepForever()))).toBeInstanceOf(TooSlowError);
      expect(currentTime()).toBe(t1 + 10);
    }));

  test("24. shielded timeouts (test_context_shields_from_outer, test_fail_after_fails_even_if_shielded)", () =>
    autojump(async () => {
      const outer = new CancelScope();
      await outer.run(async () => {
        outer.cancel();
        await moveOnAfter(
          1000,
          async (inner) => {
            await checkpoint();
            await checkpoint();
            inner.shield = false;
            expect(await rejection(checkpoint())).toBeInstanceOf(Cancelled);
          },
          { shield: true },
        );
        const t0 = currentTime();
        expect(await rejection(failAfter(1000, () => sleepForever(), { shield: true }))).toBeInstanceOf(TooSlowError);
        expect(currentTime() - t0).toBe(1000);
      });
    }));

  test("25. failAfter with a real error raises that error, not TooSlowError", () =>
    autojump(async () => {
      const e = await rejection(
        failAfter(0, () =>
          openNursery(async (n) => {
            n.startSoon(async () => {
              try {
                await sleepForever();
              } catch {
                throw new TypeError("in cleanup");
              }
            });
          }),
        ),
      );
      expect(e).toBeInstanceOf(ExceptionGroup);
      expect((e as ExceptionGroup).errors).toHaveLength(1);
      expect((e as ExceptionGroup).errors[0]).toBeInstanceOf(TypeError);
    }));

  test("26. currentEffectiveDeadline (test_current_effective_deadline)", () =>
    mock(async () => {
      expect(currentEffectiveDeadline()).toBe(Infinity);
      const s1 = new CancelScope({ deadline: 5 });
      const s2 = new CancelScope({ deadline: 10 });
      await s1.run(async () => {
        await s2.run(async () => {
          expect(currentEffectiveDeadline()).toBe(5);
          s2.deadline = 3;
          expect(currentEffectiveDeadline()).toBe(3);
          s2.deadline = 10;
          expect(currentEffectiveDeadline()).toBe(5);
          s2.shield = true;
          expect(currentEffectiveDeadline()).toBe(10);
          s2.shield = false;
          expect(currentEffectiveDeadline()).toBe(5);
          s1.cancel();
          expect(currentEffectiveDeadline()).toBe(-Infinity);
          s2.shield = true;
          expect(currentEffectiveDeadline()).toBe(10);
        });
        expect(currentEffectiveDeadline()).toBe(-Infinity);
      });
      expect(currentEffectiveDeadline()).toBe(Infinity);
    }));

  test("27. sleepForever woken by reschedule raises RuntimeError (test_cannot_wake_sleep_forever)", () =>
    qrun(async () => {
      await openNursery(async (n) => {
        let sleeper: Task | undefined;
        let error: unknown;
        n.startSoon(async () => {
          sleeper = currentTask();
          error = await rejection(sleepForever());
        });
        await waitAllTasksBlocked();
        reschedule(sleeper!);
        await waitAllTasksBlocked();
        expect(error).toBeInstanceOf(RuntimeError);
      });
    }));

  describe("28. Cancelled carries source, reason and task (test_cancelled.py)", () => {
    test("explicit with reason, from a task", () =>
      qrun(async () => {
        const s = new CancelScope();
        let e: unknown;
        await s.run(async () => {
          s.cancel("hello");
          e = await rejection(checkpoint());
        });
        expect(String(e)).toBe("Cancelled: cancelled due to explicit with reason 'hello' from task main");
        expect(e).toMatchObject({ source: "explicit", reason: "hello", sourceTask: "main" });
      }));

    test("deadline", () =>
      qrun(async () => {
        let e: unknown;
        await new CancelScope({ deadline: -Infinity }).run(async () => {
          e = await rejection(checkpoint());
        });
        expect((e as Error).message).toBe("cancelled due to deadline");
      }));

    test("first reason wins", () =>
      qrun(async () => {
        let e1: unknown;
        const a = new CancelScope();
        await a.run(async () => {
          a.cancel();
          a.deadline = -Infinity;
          e1 = await rejection(checkpoint());
        });
        expect((e1 as Cancelled).source).toBe("explicit");
        let e2: unknown;
        const b = new CancelScope();
        await b.run(async () => {
          b.deadline = -Infinity;
          await cancelShieldedCheckpoint();
          await cancelShieldedCheckpoint();
          b.cancel("later");
          e2 = await rejection(checkpoint());
        });
        expect((e2 as Cancelled).source).toBe("deadline");
      }));

    test("a child's error cancels its siblings with source nursery", () =>
      qrun(async () => {
        let seen: Cancelled | undefined;
        const e = await rejection(
          openNursery(async (n) => {
            n.startSoon(async () => {
              try {
                await sleepForever();
              } catch (err) {
                seen = err as Cancelled;
                throw err;
              }
            });
            n.startSoon(
              async () => {
                await waitAllTasksBlocked();
                throw new TypeError("oops");
              },
              { name: "crasher" },
            );
          }),
        );
        expect(e).toBeInstanceOf(ExceptionGroup);
        expect(seen!.source).toBe("nursery");
        expect(seen!.reason).toBe('child task raised exception TypeError("oops")');
        expect(seen!.sourceTask).toBe("crasher");
      }));

    test("a body error cancels the children, from the parent", () =>
      qrun(async () => {
        let seen: Cancelled | undefined;
        await rejection(
          openNursery(async (n) => {
            n.startSoon(async () => {
              try {
                await sleepForever();
              } catch (err) {
                seen = err as Cancelled;
                throw err;
              }
            });
            await waitAllTasksBlocked();
            throw new RangeError("body");
          }),
        );
        expect(seen!.reason).toBe('code block inside nursery raised exception RangeError("body")');
        expect(seen!.sourceTask).toBe("main");
      }));

    test("Cancelled cannot be constructed or subclassed", () => {
      expect(() => new (Cancelled as unknown as new () => Cancelled)()).toThrow(TypeError);
      class Sub extends (Cancelled as unknown as new () => Error) {}
      expect(() => new Sub()).toThrow(TypeError);
    });
  });

  test("29. 5000 nested scopes cancel without overflowing (test_very_deep_cancel_scope_nesting)", () =>
    qrun(async () => {
      const outer = new CancelScope();
      let depth = 0;
      async function nest(k: number): Promise<void> {
        if (k === 0) {
          outer.cancel();
          await sleepForever();
          return;
        }
        await cancelShieldedCheckpoint();
        await new CancelScope().run(() => {
          depth++;
          return nest(k - 1);
        });
      }
      await outer.run(() => nest(5000));
      expect(depth).toBe(5000);
      expect(outer.cancelledCaught).toBe(true);
    }));
});
