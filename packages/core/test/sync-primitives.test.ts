// Trio §5 E: synchronization primitives, ported scenario by scenario (92–102), plus the checkpoint,
// cancellation, validation and callback-helper contracts of API.md "Synchronization".
import { describe, expect, test } from "vitest";
import {
  BrokenResourceError,
  CancelScope,
  CapacityLimiter,
  Cancelled,
  Condition,
  Event,
  ExceptionGroup,
  Lock,
  RuntimeError,
  Semaphore,
  StrictFIFOLock,
  WouldBlock,
  checkpoint,
  currentTask,
  moveOnAfter,
  openNursery,
  sleep,
  sleepForever,
  type Task,
} from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { autojump, expectCheckpoints, expectNoCheckpoints, installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

function group(e: unknown): ExceptionGroup {
  expect(e).toBeInstanceOf(ExceptionGroup);
  return e as ExceptionGroup;
}

/** The uniform face of every lock-like primitive, for the generic tests (Trio's lock_factories). */
interface LockLike {
  acquire(): Promise<void>;
  acquireNowait(): void;
  release(): void;
}
const lockFactories: [string, () => LockLike, (l: LockLike, fn: () => Promise<void>) => Promise<void>][] = [
  ["Lock", () => new Lock(), (l, fn) => (l as Lock).withLock(fn)],
  ["StrictFIFOLock", () => new StrictFIFOLock(), (l, fn) => (l as StrictFIFOLock).withLock(fn)],
  ["Semaphore(1)", () => new Semaphore(1), (l, fn) => (l as Semaphore).run(fn)],
  ["Semaphore(1, { max: 1 })", () => new Semaphore(1, { max: 1 }), (l, fn) => (l as Semaphore).run(fn)],
  ["CapacityLimiter(1)", () => new CapacityLimiter(1), (l, fn) => (l as CapacityLimiter).run(fn)],
  ["Condition", () => new Condition(), (l, fn) => (l as Condition).withLock(fn)],
];

describe("§5 E sync primitives", () => {
  test("92. Event (test_Event)", () =>
    qrun(async () => {
      let e = new Event();
      expect(e.isSet()).toBe(false);
      expect(e.statistics()).toEqual({ tasksWaiting: 0 });
      e.set();
      expect(e.isSet()).toBe(true);
      await expectCheckpoints(() => e.wait());

      e = new Event();
      const record: string[] = [];
      const child = async () => {
        record.push("sleeping");
        await e.wait();
        record.push("woken");
      };
      await openNursery(async (n) => {
        n.startSoon(child);
        n.startSoon(child);
        await waitAllTasksBlocked();
        expect(record).toEqual(["sleeping", "sleeping"]);
        expect(e.statistics().tasksWaiting).toBe(2);
        e.set();
        expect(e.statistics().tasksWaiting).toBe(0);
        await waitAllTasksBlocked();
        expect(record).toEqual(["sleeping", "sleeping", "woken", "woken"]);
      });
      // No clear(): an event happens once.
      expect("clear" in e).toBe(false);
    }));

  for (const Cls of [Lock, StrictFIFOLock]) {
    test(`93. Lock basics, ${Cls.name} (test_Lock_and_StrictFIFOLock)`, () =>
      qrun(async () => {
        const l = new Cls();
        expect(l.locked()).toBe(false);
        await expectCheckpoints(() =>
          l.withLock(async () => {
            expect(l.locked()).toBe(true);
          }),
        );
        expect(l.locked()).toBe(false);
        l.acquireNowait();
        expect(l.locked()).toBe(true);
        l.release();
        expect(l.locked()).toBe(false);
        await expectCheckpoints(() => l.acquire());
        expect(l.locked()).toBe(true);
        l.release();

        l.acquireNowait();
        expect(() => l.acquireNowait()).toThrow(RuntimeError); // already own it
        expect(await rejection(l.acquire())).toBeInstanceOf(RuntimeError);
        l.release();
        expect(() => l.release()).toThrow(RuntimeError); // don't own it

        let holderTask: Task | null = null;
        const holder = async () => {
          holderTask = currentTask();
          await l.withLock(() => sleepForever());
        };
        await openNursery(async (n) => {
          expect(l.locked()).toBe(false);
          n.startSoon(holder);
          await waitAllTasksBlocked();
          expect(l.locked()).toBe(true);
          expect(() => l.acquireNowait()).toThrow(WouldBlock);
          expect(() => l.release()).toThrow(new RuntimeError(`can't release a ${Cls.name} you don't own`));
          expect(l.statistics()).toEqual({ locked: true, owner: holderTask, tasksWaiting: 0 });
          n.startSoon(holder);
          await waitAllTasksBlocked();
          expect(l.statistics().tasksWaiting).toBe(1);
          n.cancelScope.cancel();
        });
        expect(l.statistics()).toEqual({ locked: false, owner: null, tasksWaiting: 0 });
      }));
  }

  test("94. Lock hand-off: the releaser cannot barge back in (doc example)", () =>
    qrun(async () => {
      const l = new Lock();
      await openNursery(async (n) => {
        await l.acquire();
        let child: Task | null = null;
        n.startSoon(async () => {
          child = currentTask();
          await l.acquire();
          l.release();
        });
        await waitAllTasksBlocked();
        l.release();
        // Ownership passed straight to the child: the lock never looked free.
        expect(l.statistics()).toEqual({ locked: true, owner: child, tasksWaiting: 0 });
        expect(() => l.acquireNowait()).toThrow(WouldBlock);
      });
      expect(l.locked()).toBe(false);
    }));

  for (const [name, make, use] of lockFactories) {
    test(`94. FIFO fairness, ${name} (test_generic_lock_fifo_fairness)`, () =>
      qrun(async () => {
        const initialOrder: number[] = [];
        const record: number[] = [];
        const LOOPS = 5;
        const lockLike = make();
        const loopy = async (id: number) => {
          initialOrder.push(id);
          for (let i = 0; i < LOOPS; i++) await use(lockLike, async () => void record.push(id));
        };
        await openNursery(async (n) => {
          for (const id of [1, 2, 3]) n.startSoon(() => loopy(id));
        });
        for (let i = 0; i < LOOPS; i++) expect(record.slice(3 * i, 3 * i + 3)).toEqual(initialOrder);
      }));
  }

  test("95. owner exit breaks the lock (test_lock_acquire_unowned_lock)", () =>
    qrun(async () => {
      const lock = new Lock();
      let owner: Task | null = null;
      await openNursery(async (n) => {
        n.startSoon(
          async () => {
            owner = currentTask();
            await lock.acquire();
          },
          { name: "leaky" },
        );
      });
      const e = await rejection(lock.acquire());
      expect(e).toBeInstanceOf(BrokenResourceError);
      expect((e as Error).message).toBe(`Owner of this lock exited without releasing: ${String(owner)}`);
      expect((e as Error).message).toBe("Owner of this lock exited without releasing: <Task leaky>");
      // The broken lock still shows the exited owner, and future acquirers keep failing.
      expect(lock.statistics()).toEqual({ locked: true, owner, tasksWaiting: 0 });
      expect(() => lock.acquireNowait()).toThrow(WouldBlock);
      expect(await rejection(lock.acquire())).toBeInstanceOf(BrokenResourceError);
    }));

  test("95. a queued acquirer gets BrokenResourceError (test_lock_multiple_acquire)", () =>
    qrun(async () => {
      const lock = new Lock();
      const g = group(
        await rejection(
          openNursery(async (n) => {
            n.startSoon(() => lock.acquire());
            n.startSoon(() => lock.acquire());
          }),
        ),
      );
      expect(g.errors).toHaveLength(1);
      expect(g.errors[0]).toBeInstanceOf(BrokenResourceError);
      expect((g.errors[0] as Error).message).toMatch(/^Owner of this lock exited without releasing: <Task /);
    }));

  test("95. after a hand-off the new owner is the one whose exit breaks the lock (test_lock_handover)", () =>
    qrun(async () => {
      const lock = new Lock();
      lock.acquireNowait();
      let child: Task | null = null;
      await openNursery(async (n) => {
        n.startSoon(
          async () => {
            child = currentTask();
            await lock.acquire();
          },
          { name: "heir" },
        );
        await waitAllTasksBlocked();
        lock.release(); // hand over to the child, which exits holding it
      });
      expect(lock.statistics().owner).toBe(child);
      // The releaser is no longer registered: its own exit must not matter, and the error names the child.
      expect(((await rejection(lock.acquire())) as Error).message).toBe(
        "Owner of this lock exited without releasing: <Task heir>",
      );
    }));

  test("95. a task that released the lock before exiting does not break it", () =>
    qrun(async () => {
      const lock = new Lock();
      await openNursery(async (n) => {
        // The first hands the lock to the second, which releases it with nobody waiting.
        n.startSoon(() => lock.withLock(() => checkpoint()));
        n.startSoon(() => lock.withLock(() => checkpoint()));
      });
      await expectCheckpoints(() => lock.acquire());
      expect(lock.statistics()).toEqual({ locked: true, owner: currentTask(), tasksWaiting: 0 });
      lock.release();
    }));

  for (const [name, make, use] of lockFactories) {
    test(`96. generic exclusion, ${name} (test_generic_lock_exclusion)`, () =>
      qrun(async () => {
        const LOOPS = 10;
        const WORKERS = 5;
        let inside = false;
        let acquires = 0;
        const lockLike = make();
        const worker = async () => {
          for (let i = 0; i < LOOPS; i++) {
            await use(lockLike, async () => {
              acquires++;
              expect(inside).toBe(false);
              inside = true;
              await checkpoint();
              await checkpoint();
              expect(inside).toBe(true);
              inside = false;
            });
          }
        };
        await openNursery(async (n) => {
          for (let i = 0; i < WORKERS; i++) n.startSoon(worker);
        });
        expect(inside).toBe(false);
        expect(acquires).toBe(LOOPS * WORKERS);
      }));

    test(`96. acquireNowait blocks acquire, ${name} (test_generic_lock_acquire_nowait_blocks_acquire)`, () =>
      qrun(async () => {
        const lockLike = make();
        const record: string[] = [];
        await openNursery(async (n) => {
          lockLike.acquireNowait();
          n.startSoon(async () => {
            record.push("started");
            await use(lockLike, async () => {});
            record.push("finished");
          });
          await waitAllTasksBlocked();
          expect(record).toEqual(["started"]);
          lockLike.release();
        });
        expect(record).toEqual(["started", "finished"]);
      }));
  }

  test("97. Semaphore (test_Semaphore)", () =>
    qrun(async () => {
      expect(() => new Semaphore(1.5)).toThrow(TypeError);
      expect(() => new Semaphore(-1)).toThrow(RangeError);
      const s = new Semaphore(1);
      expect(s.value).toBe(1);
      expect(s.max).toBe(null);
      s.release();
      expect(s.value).toBe(2);
      expect(s.statistics()).toEqual({ tasksWaiting: 0 });
      s.acquireNowait();
      expect(s.value).toBe(1);
      await expectCheckpoints(() => s.acquire());
      expect(s.value).toBe(0);
      expect(() => s.acquireNowait()).toThrow(WouldBlock);

      s.release();
      expect(s.value).toBe(1);
      await expectCheckpoints(() => s.run(async () => void expect(s.value).toBe(0)));
      expect(s.value).toBe(1);
      s.acquireNowait();

      const record: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          record.push("started");
          await s.acquire();
          record.push("finished");
        });
        await waitAllTasksBlocked();
        expect(record).toEqual(["started"]);
        expect(s.value).toBe(0);
        expect(s.statistics()).toEqual({ tasksWaiting: 1 });
        s.release();
        // Fairness: the unit went to the waiter, not back into the pool.
        expect(s.value).toBe(0);
        expect(() => s.acquireNowait()).toThrow(WouldBlock);
      });
      expect(record).toEqual(["started", "finished"]);
    }));

  test("98. bounded Semaphore (test_Semaphore_bounded)", () => {
    expect(() => new Semaphore(1, { max: 1.5 })).toThrow(TypeError);
    expect(() => new Semaphore(2, { max: 1 })).toThrow(RangeError);
    const bs = new Semaphore(1, { max: 1 });
    expect(bs.max).toBe(1);
    expect(() => bs.release()).toThrow(new RangeError("semaphore released too many times"));
    expect(bs.value).toBe(1);
    bs.acquireNowait();
    expect(bs.value).toBe(0);
    bs.release();
    expect(bs.value).toBe(1);
  });

  test("99. CapacityLimiter basics (test_CapacityLimiter)", () =>
    qrun(async () => {
      expect(new CapacityLimiter(0).totalTokens).toBe(0);
      expect(() => new CapacityLimiter(1.5)).toThrow(TypeError);
      expect(() => new CapacityLimiter(-1)).toThrow(RangeError);
      const c = new CapacityLimiter(2);
      expect(c.totalTokens).toBe(2);
      expect(c.borrowedTokens).toBe(0);
      expect(c.availableTokens).toBe(2);
      expect(() => c.release()).toThrow(RuntimeError);
      expect(c.borrowedTokens).toBe(0);
      c.acquireNowait();
      expect(c.borrowedTokens).toBe(1);
      expect(c.availableTokens).toBe(1);
      expect(c.statistics()).toEqual({ borrowedTokens: 1, totalTokens: 2, borrowers: [currentTask()], tasksWaiting: 0 });

      // Can't re-acquire when we already have it.
      expect(() => c.acquireNowait()).toThrow(RuntimeError);
      expect(c.borrowedTokens).toBe(1);
      expect(await rejection(c.acquire())).toBeInstanceOf(RuntimeError);
      expect(c.borrowedTokens).toBe(1);

      // We can acquire on behalf of someone else though...
      await expectCheckpoints(() => c.acquireOnBehalfOf("someone"));
      // ...but then we've run out of capacity.
      expect(c.borrowedTokens).toBe(2);
      expect(() => c.acquireOnBehalfOfNowait("third party")).toThrow(WouldBlock);
      expect(new Set(c.statistics().borrowers)).toEqual(new Set([currentTask(), "someone"]));

      c.releaseOnBehalfOf(currentTask());
      expect(c.statistics().borrowers).toEqual(["someone"]);
      c.releaseOnBehalfOf("someone");
      expect(c.borrowedTokens).toBe(0);
      await expectCheckpoints(() => c.run(async () => void expect(c.borrowedTokens).toBe(1)));
      expect(c.borrowedTokens).toBe(0);

      await openNursery(async (n) => {
        await c.acquireOnBehalfOf("value 1");
        await c.acquireOnBehalfOf("value 2");
        n.startSoon(() => c.acquireOnBehalfOf("value 3"));
        await waitAllTasksBlocked();
        expect(c.borrowedTokens).toBe(2);
        expect(c.statistics().tasksWaiting).toBe(1);
        c.releaseOnBehalfOf("value 2");
        // Fairness: the token went to "value 3".
        expect(c.borrowedTokens).toBe(2);
        expect(() => c.acquireNowait()).toThrow(WouldBlock);
      });
      c.releaseOnBehalfOf("value 3");
      c.releaseOnBehalfOf("value 1");
      expect(c.statistics()).toEqual({ borrowedTokens: 0, totalTokens: 2, borrowers: [], tasksWaiting: 0 });
    }));

  test("100. changing totalTokens (test_CapacityLimiter_change_total_tokens)", () =>
    qrun(async () => {
      const c = new CapacityLimiter(2);
      expect(() => (c.totalTokens = 1.5)).toThrow(TypeError);
      expect(() => (c.totalTokens = -1)).toThrow(RangeError);
      expect(c.totalTokens).toBe(2);
      const borrowers = () => new Set(c.statistics().borrowers);
      await openNursery(async (n) => {
        for (let i = 0; i < 5; i++) {
          n.startSoon(() => c.acquireOnBehalfOf(i));
          await waitAllTasksBlocked();
        }
        expect(borrowers()).toEqual(new Set([0, 1]));
        expect(c.statistics().tasksWaiting).toBe(3);
        c.totalTokens += 2;
        // Raising the limit admits waiters at once, synchronously.
        expect(borrowers()).toEqual(new Set([0, 1, 2, 3]));
        expect(c.statistics().tasksWaiting).toBe(1);
        c.totalTokens -= 3;
        expect(c.borrowedTokens).toBe(4);
        expect(c.totalTokens).toBe(1);
        expect(c.availableTokens).toBe(-3);
        c.releaseOnBehalfOf(0);
        c.releaseOnBehalfOf(1);
        c.releaseOnBehalfOf(2);
        expect(borrowers()).toEqual(new Set([3]));
        expect(c.statistics().tasksWaiting).toBe(1);
        c.releaseOnBehalfOf(3);
        expect(borrowers()).toEqual(new Set([4]));
        expect(c.statistics().tasksWaiting).toBe(0);
      });
      c.releaseOnBehalfOf(4);
      c.totalTokens = Infinity;
      expect(c.availableTokens).toBe(Infinity);
    }));

  test("101. zero tokens (test_CapacityLimiter_zero_limit_tokens)", () =>
    qrun(async () => {
      const c = new CapacityLimiter(5);
      await openNursery(async (n) => {
        c.totalTokens = 0;
        for (let i = 0; i < 5; i++) {
          n.startSoon(() => c.acquireOnBehalfOf(i));
          await waitAllTasksBlocked();
        }
        expect(c.statistics().borrowers).toEqual([]);
        expect(c.statistics().tasksWaiting).toBe(5);
        expect(() => c.acquireNowait()).toThrow(WouldBlock);
        c.totalTokens += 5;
        expect(c.statistics().borrowers).toEqual([0, 1, 2, 3, 4]);
        expect(c.statistics().tasksWaiting).toBe(0);
        for (let i = 0; i < 5; i++) c.releaseOnBehalfOf(i);
        expect(c.statistics().borrowers).toEqual([]);
      });
      c.totalTokens = 0;
      expect(() => c.acquireNowait()).toThrow(WouldBlock);

      // A cancelled waiter leaves no pending-borrower entry: later capacity does not go to it.
      let cancelledTask: Task | null = null;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          cancelledTask = currentTask();
          await c.acquire();
        });
        await waitAllTasksBlocked();
        expect(c.statistics().tasksWaiting).toBe(1);
        n.cancelScope.cancel();
      });
      expect(c.statistics().tasksWaiting).toBe(0);
      c.totalTokens = 1;
      expect(c.statistics().borrowers).toEqual([]);
      expect(cancelledTask).not.toBe(null);
      c.acquireNowait();
      expect(c.statistics().borrowers).toEqual([currentTask()]);
      c.release();
    }));

  test("102. Condition (test_Condition)", () =>
    qrun(async () => {
      expect(() => new Condition(new Semaphore(1) as never)).toThrow(TypeError);
      expect(() => new Condition(new StrictFIFOLock() as never)).toThrow(TypeError);
      expect(() => new Condition(new StrictFIFOLock() as never)).toThrow(/lock must be a Lock, got a StrictFIFOLock/);
      expect(() => new Condition({} as never)).toThrow(TypeError);
      expect(new Condition(null).locked()).toBe(false);
      const l = new Lock();
      let c = new Condition(l);
      expect(l.locked()).toBe(false);
      expect(c.locked()).toBe(false);
      await expectCheckpoints(() => c.acquire());
      expect(l.locked()).toBe(true);
      expect(c.locked()).toBe(true);
      c.release();

      c = new Condition();
      expect(c.locked()).toBe(false);
      c.acquireNowait();
      expect(c.locked()).toBe(true);
      expect(() => c.acquireNowait()).toThrow(RuntimeError);
      c.release();

      expect(await rejection(c.wait())).toEqual(new RuntimeError("must hold the lock to wait"));
      expect(() => c.notify()).toThrow(new RuntimeError("must hold the lock to notify"));
      expect(() => c.notifyAll()).toThrow(RuntimeError);

      let finished = new Set<number>();
      const waiter = async (i: number) => {
        await c.withLock(() => c.wait());
        finished.add(i);
      };
      await openNursery(async (n) => {
        for (let i = 0; i < 3; i++) {
          n.startSoon(() => waiter(i));
          await waitAllTasksBlocked();
        }
        await c.withLock(() => c.notify());
        // The notified waiter woke up holding the lock.
        expect(c.locked()).toBe(true);
        await waitAllTasksBlocked();
        expect(finished).toEqual(new Set([0]));
        await c.withLock(() => c.notifyAll());
        await waitAllTasksBlocked();
        expect(finished).toEqual(new Set([0, 1, 2]));
      });

      finished = new Set();
      await openNursery(async (n) => {
        for (let i = 0; i < 3; i++) {
          n.startSoon(() => waiter(i));
          await waitAllTasksBlocked();
        }
        await c.withLock(() => {
          c.notify(2);
          const stats = c.statistics();
          expect(stats.tasksWaiting).toBe(1);
          expect(stats.lockStatistics.tasksWaiting).toBe(2);
        });
        // Releasing handed the lock to the first notified waiter.
        expect(c.statistics().lockStatistics.tasksWaiting).toBe(1);
        await waitAllTasksBlocked();
        expect(finished).toEqual(new Set([0, 1]));
        await c.withLock(() => c.notifyAll());
      });

      // After a cancelled wait() the task still holds the lock.
      let lockedInFinally: boolean | null = null;
      const scope = new CancelScope();
      await scope.run(() =>
        c.withLock(async () => {
          scope.cancel();
          try {
            await c.wait();
          } finally {
            lockedInFinally = c.locked() && c.statistics().lockStatistics.owner === currentTask();
          }
        }),
      );
      expect(scope.cancelledCaught).toBe(true);
      expect(lockedInFinally).toBe(true);
      expect(c.locked()).toBe(false);
    }));
});

describe("checkpoints and cancellation", () => {
  test("acquire in a cancelled scope raises even when it could succeed, and takes nothing (Trio #1626)", () =>
    qrun(async () => {
      const l = new Lock();
      const s = new Semaphore(1);
      const c = new CapacityLimiter(1);
      const e = new Event();
      e.set();
      await new CancelScope().run(async (scope) => {
        scope.cancel();
        for (const op of [() => l.acquire(), () => s.acquire(), () => c.acquire(), () => c.acquireOnBehalfOf("x"), () => e.wait()]) {
          expect(await rejection(op())).toBeInstanceOf(Cancelled);
        }
      });
      expect(l.locked()).toBe(false);
      expect(s.value).toBe(1);
      expect(c.borrowedTokens).toBe(0);
    }));

  test("nowait forms and release never checkpoint", () =>
    qrun(async () => {
      const l = new Lock();
      const s = new Semaphore(1);
      const c = new CapacityLimiter(1);
      const e = new Event();
      expectNoCheckpoints(() => {
        l.acquireNowait();
        l.release();
        s.acquireNowait();
        s.release();
        c.acquireNowait();
        c.release();
        c.acquireOnBehalfOfNowait("x");
        c.releaseOnBehalfOf("x");
        e.set();
      });
    }));

  test("a successful acquire lets other tasks run first (schedule point)", () =>
    qrun(async () => {
      for (const make of [() => new Lock(), () => new Semaphore(1), () => new CapacityLimiter(1)]) {
        const l = make();
        const log: string[] = [];
        await openNursery(async (n) => {
          n.startSoon(async () => void log.push("other"));
          await waitAllTasksBlocked();
          n.startSoon(async () => void log.push("other"));
          await l.acquire();
          log.push("acquired");
          l.release();
        });
        expect(log).toEqual(["other", "other", "acquired"]);
      }
    }));

  test("a cancelled acquire leaves no trace in any queue", () =>
    autojump(async () => {
      const lock = new Lock();
      const sem = new Semaphore(0);
      const lim = new CapacityLimiter(0);
      const ev = new Event();
      const cond = new Condition();
      await openNursery(async (n) => {
        lock.acquireNowait();
        n.startSoon(() => moveOnAfter(10, () => lock.acquire()));
        n.startSoon(() => moveOnAfter(10, () => sem.acquire()));
        n.startSoon(() => moveOnAfter(10, () => lim.acquire()));
        n.startSoon(() => moveOnAfter(10, () => lim.acquireOnBehalfOf("job")));
        n.startSoon(() => moveOnAfter(10, () => ev.wait()));
        n.startSoon(() => moveOnAfter(10, () => cond.withLock(() => cond.wait())));
        await waitAllTasksBlocked();
        expect(lock.statistics().tasksWaiting).toBe(1);
        expect(sem.statistics().tasksWaiting).toBe(1);
        expect(lim.statistics().tasksWaiting).toBe(2);
        expect(ev.statistics().tasksWaiting).toBe(1);
        expect(cond.statistics().tasksWaiting).toBe(1);
        await sleep(20);
        expect(lock.statistics()).toEqual({ locked: true, owner: currentTask(), tasksWaiting: 0 });
        expect(sem.statistics().tasksWaiting).toBe(0);
        expect(lim.statistics().tasksWaiting).toBe(0);
        expect(ev.statistics().tasksWaiting).toBe(0);
        expect(cond.statistics()).toEqual({
          tasksWaiting: 0,
          lockStatistics: { locked: false, owner: null, tasksWaiting: 0 },
        });
        lock.release();
      });
      // Nothing was handed to the withdrawn waits.
      expect(lock.locked()).toBe(false);
      sem.release();
      expect(sem.value).toBe(1);
      lim.totalTokens = 5;
      expect(lim.borrowedTokens).toBe(0);
    }));

  test("a notified waiter cancelled while queued for the lock still returns holding it", () =>
    qrun(async () => {
      const c = new Condition();
      let lockedAfter: boolean | null = null;
      await openNursery(async (n) => {
        const scope = new CancelScope();
        n.startSoon(() =>
          scope.run(() =>
            c.withLock(async () => {
              try {
                await c.wait();
              } finally {
                lockedAfter = c.statistics().lockStatistics.owner === currentTask();
              }
            }),
          ),
        );
        await waitAllTasksBlocked();
        await c.withLock(async () => {
          c.notify();
          // The waiter now queues on the lock; cancelling it must not lose its place's meaning:
          // it re-acquires (shielded) and only then raises.
          scope.cancel();
          await waitAllTasksBlocked();
          expect(c.statistics().lockStatistics.tasksWaiting).toBe(1);
        });
      });
      expect(lockedAfter).toBe(true);
      expect(c.locked()).toBe(false);
    }));

  test("a Condition waiter whose lock owner exits gets the lock's BrokenResourceError", () =>
    qrun(async () => {
      const c = new Condition();
      const g = group(
        await rejection(
          openNursery(async (n) => {
            n.startSoon(() => c.withLock(() => c.wait()));
            await waitAllTasksBlocked();
            n.startSoon(
              async () => {
                await c.acquire();
                c.notify();
              },
              { name: "deserter" },
            );
          }),
        ),
      );
      expect(g.errors).toHaveLength(1);
      expect((g.errors[0] as Error).message).toBe("Owner of this lock exited without releasing: <Task deserter>");
    }));
});

describe("callback helpers", () => {
  test("withLock/run return fn's value and release when fn throws or is cancelled", () =>
    autojump(async () => {
      const lock = new Lock();
      const sem = new Semaphore(1);
      const lim = new CapacityLimiter(1);
      const cond = new Condition();
      expect(await lock.withLock(() => 1)).toBe(1);
      expect(await sem.run(async () => 2)).toBe(2);
      expect(await lim.run(() => 3)).toBe(3);
      expect(await cond.withLock(() => 4)).toBe(4);
      const boom = new SyntaxError("boom");
      for (const p of [lock.withLock(() => Promise.reject(boom)), sem.run(() => { throw boom; }), lim.run(async () => { throw boom; }), cond.withLock(() => { throw boom; })]) {
        expect(await rejection(p)).toBe(boom);
      }
      await moveOnAfter(5, () => lock.withLock(() => sleepForever()));
      await moveOnAfter(5, () => sem.run(() => sleepForever()));
      await moveOnAfter(5, () => lim.run(() => sleepForever()));
      expect(lock.locked()).toBe(false);
      expect(cond.locked()).toBe(false);
      expect(sem.value).toBe(1);
      expect(lim.borrowedTokens).toBe(0);
    }));

  test("fn's error wins over the helper's failing release; a release misuse on success is reported", () =>
    qrun(async () => {
      const lock = new Lock();
      const boom = new SyntaxError("boom");
      expect(
        await rejection(
          lock.withLock(() => {
            lock.release();
            throw boom;
          }),
        ),
      ).toBe(boom);
      expect(await rejection(lock.withLock(() => lock.release()))).toEqual(new RuntimeError("can't release a Lock you don't own"));
      const sem = new Semaphore(1, { max: 1 });
      expect(await rejection(sem.run(() => void sem.release()))).toEqual(new RangeError("semaphore released too many times"));
      expect(sem.value).toBe(1);
    }));

  test("a helper whose acquire fails does not release", () =>
    qrun(async () => {
      const lim = new CapacityLimiter(2);
      lim.acquireNowait();
      expect(await rejection(lim.run(() => "never"))).toBeInstanceOf(RuntimeError);
      expect(lim.borrowedTokens).toBe(1); // still ours
      lim.release();
    }));

  test("non-function fn is a synchronous TypeError naming the value", () => {
    expect(() => new Lock().withLock(42 as never)).toThrow(new TypeError("Lock.withLock: fn must be a function, got 42"));
    expect(() => new StrictFIFOLock().withLock(null as never)).toThrow(/StrictFIFOLock\.withLock: fn must be a function, got null/);
    expect(() => new Semaphore(1).run("x" as never)).toThrow(/Semaphore\.run: fn must be a function, got "x"/);
    expect(() => new CapacityLimiter(1).run(undefined as never)).toThrow(/CapacityLimiter\.run: fn must be a function, got undefined/);
    expect(() => new Condition().withLock({} as never)).toThrow(/Condition\.withLock: fn must be a function/);
  });
});

describe("argument validation names the value", () => {
  test("Semaphore", () => {
    expect(() => new Semaphore(1.5)).toThrow(new TypeError("Semaphore: initial must be an integer, got 1.5"));
    expect(() => new Semaphore("1" as never)).toThrow(/initial must be an integer, got "1"/);
    expect(() => new Semaphore(Infinity)).toThrow(TypeError);
    expect(() => new Semaphore(NaN)).toThrow(TypeError);
    expect(() => new Semaphore(-2)).toThrow(new RangeError("Semaphore: initial must be >= 0, got -2"));
    expect(() => new Semaphore(1, { max: 0.5 })).toThrow(/opts\.max must be an integer, got 0\.5/);
    expect(() => new Semaphore(3, { max: 2 })).toThrow(new RangeError("Semaphore: opts.max must be >= initial (3), got 2"));
    expect(() => new Semaphore(1, 5 as never)).toThrow(/opts must be an object or undefined, got 5/);
    expect(new Semaphore(0, { max: null }).max).toBe(null);
    expect(new Semaphore(2, { max: 2 }).max).toBe(2);
  });

  test("CapacityLimiter", () => {
    expect(() => new CapacityLimiter(1.5)).toThrow(new TypeError("CapacityLimiter: totalTokens must be an integer or Infinity, got 1.5"));
    expect(() => new CapacityLimiter(-1)).toThrow(new RangeError("CapacityLimiter: totalTokens must be >= 0, got -1"));
    expect(() => new CapacityLimiter(-Infinity)).toThrow(TypeError);
    expect(() => new CapacityLimiter(NaN)).toThrow(TypeError);
    expect(() => new CapacityLimiter("2" as never)).toThrow(/got "2"/);
    expect(new CapacityLimiter(Infinity).availableTokens).toBe(Infinity);
    const c = new CapacityLimiter(3);
    expect(() => (c.totalTokens = 0.5)).toThrow(/CapacityLimiter\.totalTokens: value must be an integer or Infinity, got 0\.5/);
    expect(() => (c.totalTokens = -4)).toThrow(/got -4/);
    expect(c.totalTokens).toBe(3);
  });

  test("Condition.notify", () =>
    qrun(async () => {
      const c = new Condition();
      await c.withLock(() => {
        expect(() => c.notify(1.5)).toThrow(new TypeError("Condition.notify: n must be an integer or Infinity, got 1.5"));
        expect(() => c.notify(-1)).toThrow(RangeError);
        c.notify(0);
        c.notify(Infinity);
      });
    }));
});

describe("outside run()", () => {
  test("separate async chains contend for a Lock through their implicit tasks", async () => {
    const lock = new Lock();
    const log: string[] = [];
    const first = new Event();
    await Promise.all([
      (async () => {
        await null;
        await lock.withLock(async () => {
          log.push("a in");
          first.set();
          await sleep(5);
          log.push("a out");
        });
      })(),
      (async () => {
        await null;
        await first.wait();
        expect(() => lock.release()).toThrow(RuntimeError); // not the owner
        await lock.withLock(() => void log.push("b in"));
      })(),
    ]);
    expect(log).toEqual(["a in", "a out", "b in"]);
  });

  test("CapacityLimiter.run and Semaphore.run work on the implicit runtime", async () => {
    const lim = new CapacityLimiter(1);
    const sem = new Semaphore(1);
    expect(await lim.run(() => sem.run(() => "ok"))).toBe("ok");
    expect(lim.borrowedTokens).toBe(0);
    expect(sem.value).toBe(1);
  });
});
