// The blocking primitive and its handshake, ParkingLot, checkpoints and counters.
import { describe, expect, test } from "vitest";
import {
  BrokenResourceError,
  CancelScope,
  Cancelled,
  RuntimeError,
  currentTask,
  openNursery,
  sleep,
} from "@quartet/core";
import {
  Abort,
  ParkingLot,
  Waiter,
  addParkingLotBreaker,
  cancelShieldedCheckpoint,
  checkCancelled,
  checkpoint,
  checkpointCounts,
  checkpointIfCancelled,
  currentStatistics,
  removeParkingLotBreaker,
  reschedule,
  waitAllTasksBlocked,
  waitTaskRescheduled,
  type Task,
} from "@quartet/core/lowlevel";
import { installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

describe("waitTaskRescheduled / reschedule", () => {
  test("reschedule delivers a value or an error", () =>
    qrun(async () => {
      await openNursery(async (n) => {
        const w = new Waiter<number>("test");
        n.startSoon(async () => {
          await waitAllTasksBlocked();
          reschedule(w, { value: 7 });
        });
        expect(await waitTaskRescheduled(() => Abort.SUCCEEDED, w)).toBe(7);
        const task = currentTask();
        const err = new SyntaxError("via task");
        n.startSoon(async () => {
          await waitAllTasksBlocked();
          reschedule(task, { error: err });
        });
        expect(await rejection(waitTaskRescheduled(() => Abort.SUCCEEDED))).toBe(err);
      });
    }));

  test("abort SUCCEEDED withdraws the wait with Cancelled", () =>
    qrun(async () => {
      let aborts = 0;
      const scope = new CancelScope();
      await scope.run(async () => {
        const p = waitTaskRescheduled(() => {
          aborts++;
          return Abort.SUCCEEDED;
        });
        scope.cancel();
        await p;
      });
      expect(aborts).toBe(1);
      expect(scope.cancelledCaught).toBe(true);
    }));

  test("abort FAILED commits the operation: one abort attempt per wait, the task stays parked (test_failed_abort)", () =>
    qrun(async () => {
      let aborts = 0;
      const w = new Waiter<string>("committed");
      const scope = new CancelScope();
      let result: unknown;
      await openNursery(async (n) => {
        n.startSoon(() =>
          scope.run(async () => {
            result = await waitTaskRescheduled(() => {
              aborts++;
              return Abort.FAILED;
            }, w);
          }),
        );
        await waitAllTasksBlocked();
        scope.cancel();
        await waitAllTasksBlocked();
        n.cancelScope.cancel();
        await new CancelScope({ shield: true }).run(() => waitAllTasksBlocked());
        expect(w.isParked).toBe(true);
        expect(aborts).toBe(1);
        reschedule(w, { value: "handed over" });
      });
      expect(result).toBe("handed over");
      expect(scope.cancelledCaught).toBe(false);
    }));

  test("parking in an already cancelled scope attempts the abort at once, before any other task runs", () =>
    qrun(async () => {
      const log: string[] = [];
      await new CancelScope().run(async (s) => {
        s.cancel();
        const p = waitTaskRescheduled(() => {
          log.push("abort");
          return Abort.SUCCEEDED;
        });
        log.push("parked");
        expect(await rejection(p)).toBeInstanceOf(Cancelled);
      });
      expect(log).toEqual(["abort", "parked"]);
    }));

  test("a wait that began cancelled cannot be handed a value afterwards", () =>
    qrun(async () => {
      const w = new Waiter<string>();
      const scope = new CancelScope();
      scope.cancel();
      await scope.run(async () => {
        const p = waitTaskRescheduled(() => Abort.SUCCEEDED, w);
        expect(() => reschedule(w, { value: "too late" })).toThrow(RuntimeError);
        await p;
      });
      expect(scope.cancelledCaught).toBe(true);
    }));

  test("a value handed over before the cancellation is delivered (reschedule clears the abort)", () =>
    qrun(async () => {
      const w = new Waiter<string>();
      const scope = new CancelScope();
      let aborts = 0;
      const v = await scope.run(async () => {
        const p = waitTaskRescheduled(() => {
          aborts++;
          return Abort.SUCCEEDED;
        }, w);
        reschedule(w, { value: "mine" });
        scope.cancel();
        return p;
      });
      expect(v).toBe("mine");
      expect(aborts).toBe(0);
    }));

  test("misuse raises RuntimeError/TypeError", () =>
    qrun(async () => {
      const w = new Waiter();
      expect(() => reschedule(w)).toThrow(RuntimeError);
      const p = waitTaskRescheduled(() => Abort.SUCCEEDED, w);
      reschedule(w);
      expect(() => reschedule(w)).toThrow(/already rescheduled/);
      await p;
      expect(() => waitTaskRescheduled(() => Abort.SUCCEEDED, w)).toThrow(RuntimeError);
      expect(() => waitTaskRescheduled(5 as never)).toThrow(TypeError);
      expect(() => reschedule({} as never)).toThrow(TypeError);
      const w2 = new Waiter();
      const p2 = waitTaskRescheduled(() => Abort.SUCCEEDED, w2);
      expect(() => reschedule(w2, 5 as never)).toThrow(TypeError);
      reschedule(w2, { value: 1 });
      await p2;
      expect(() => reschedule(currentTask())).toThrow(/not parked/);
    }));

  test("reschedule(task) with two waits parked under Promise.all is ambiguous", () =>
    qrun(async () => {
      await openNursery(async (n) => {
        let task: Task | undefined;
        const w1 = new Waiter();
        const w2 = new Waiter();
        n.startSoon(async () => {
          task = currentTask();
          await Promise.all([waitTaskRescheduled(() => Abort.SUCCEEDED, w1), waitTaskRescheduled(() => Abort.SUCCEEDED, w2)]);
        });
        await waitAllTasksBlocked();
        expect(() => reschedule(task!)).toThrow(/2 parked waits/);
        reschedule(w1);
        reschedule(w2);
      });
    }));

  test("an abort function that throws ends the wait with that error", () =>
    qrun(async () => {
      const boom = new SyntaxError("abort failed");
      let seen: unknown;
      await new CancelScope().run(async (s) => {
        s.cancel();
        seen = await rejection(
          waitTaskRescheduled(() => {
            throw boom;
          }),
        );
      });
      expect(seen).toBe(boom);
    }));
});

describe("ParkingLot", () => {
  test("FIFO unpark, unparkAll, statistics", () =>
    qrun(async () => {
      const lot = new ParkingLot("test lot");
      const log: number[] = [];
      await openNursery(async (n) => {
        for (let i = 0; i < 4; i++) {
          n.startSoon(async () => {
            await lot.park();
            log.push(i);
          });
        }
        await waitAllTasksBlocked();
        expect(lot.size).toBe(4);
        expect(lot.statistics()).toEqual({ tasksWaiting: 4 });
        expect(lot.unpark().map((t) => t.name)).toHaveLength(1);
        await waitAllTasksBlocked();
        expect(log).toEqual([0]);
        lot.unpark(2);
        await waitAllTasksBlocked();
        expect(log).toEqual([0, 1, 2]);
        lot.unparkAll();
      });
      expect(log).toEqual([0, 1, 2, 3]);
      expect(() => lot.unpark(-1)).toThrow(RangeError);
      expect(() => lot.unpark(1.5)).toThrow(TypeError);
    }));

  test("a cancelled park leaves no trace", () =>
    qrun(async () => {
      const lot = new ParkingLot();
      await new CancelScope({ relativeDeadline: 1 }).run(() => lot.park());
      expect(lot.size).toBe(0);
    }));

  test("repark keeps order and moves the abort with the waiter", () =>
    qrun(async () => {
      const a = new ParkingLot("a");
      const b = new ParkingLot("b");
      const log: number[] = [];
      await openNursery(async (n) => {
        for (let i = 0; i < 3; i++) {
          n.startSoon(async () => {
            try {
              await a.park();
              log.push(i);
            } catch (e) {
              log.push(-i);
              if (!(e instanceof Cancelled)) throw e;
            }
          });
        }
        await waitAllTasksBlocked();
        a.repark(b, 2);
        expect([a.size, b.size]).toEqual([1, 2]);
        b.unpark();
        await waitAllTasksBlocked();
        expect(log).toEqual([0]);
        a.reparkAll(b);
        expect([a.size, b.size]).toEqual([0, 2]);
        b.unparkAll();
      });
      expect(log).toEqual([0, 1, 2]);
    }));

  test("breakLot fails parked and future waits; a breaker fires on task exit", () =>
    qrun(async () => {
      const lot = new ParkingLot("owned");
      const errors: unknown[] = [];
      await openNursery(async (n) => {
        n.startSoon(
          async () => {
            addParkingLotBreaker(currentTask(), lot);
            await sleep(1);
          },
          { name: "owner" },
        );
        n.startSoon(async () => {
          errors.push(await rejection(lot.park()));
        });
      });
      expect(errors[0]).toBeInstanceOf(BrokenResourceError);
      expect(String(errors[0])).toMatch(/owner/);
      expect(await rejection(lot.park())).toBeInstanceOf(BrokenResourceError);
      const other = new ParkingLot();
      expect(() => removeParkingLotBreaker(currentTask(), other)).toThrow(RangeError);
    }));
});

describe("checkpoint primitives and counters", () => {
  test("checkpoint counts both; checkpointIfCancelled a cancel point; cancelShieldedCheckpoint a schedule point", () =>
    qrun(async () => {
      const c0 = checkpointCounts();
      await checkpoint();
      const c1 = checkpointCounts();
      expect([c1.cancelPoints - c0.cancelPoints, c1.schedulePoints - c0.schedulePoints]).toEqual([1, 1]);
      await checkpointIfCancelled();
      const c2 = checkpointCounts();
      expect([c2.cancelPoints - c1.cancelPoints, c2.schedulePoints - c1.schedulePoints]).toEqual([1, 0]);
      await cancelShieldedCheckpoint();
      const c3 = checkpointCounts();
      expect([c3.cancelPoints - c2.cancelPoints, c3.schedulePoints - c2.schedulePoints]).toEqual([0, 1]);
      expect(checkCancelled()).toBe(false);
      expect(checkpointCounts().cancelPoints - c3.cancelPoints).toBe(1);
      expect(await cancelShieldedCheckpoint("v")).toBe("v");
    }));

  test("checkCancelled reports an effective cancellation", () =>
    qrun(async () => {
      await new CancelScope().run(async (s) => {
        expect(checkCancelled()).toBe(false);
        s.cancel();
        expect(checkCancelled()).toBe(true);
        expect(await cancelShieldedCheckpoint(1)).toBe(1);
      });
    }));

  test("a checkpoint is a schedule point: other runnable tasks go first", () =>
    qrun(async () => {
      const log: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          log.push("child");
        });
        await cancelShieldedCheckpoint();
        await checkpoint();
        log.push("parent");
      });
      expect(log).toEqual(["child", "parent"]);
    }));

  test("statistics count parked waiters and deadlines", () =>
    qrun(async () => {
      await openNursery(async (n) => {
        n.startSoon(() => sleep(10_000));
        n.startSoon(() => new ParkingLot().park());
        await waitAllTasksBlocked();
        const s = currentStatistics();
        expect(s.waitersParked).toBe(2);
        expect(s.pendingDeadlines).toBe(1);
        expect(s.tasksLiving).toBe(3);
        n.cancelScope.cancel();
      });
    }));
});
