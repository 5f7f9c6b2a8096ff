// Trio §5 B: nurseries and start, ported scenario by scenario.
import { describe, expect, test } from "vitest";
import {
  CancelScope,
  Cancelled,
  ExceptionGroup,
  RuntimeError,
  TASK_STATUS_IGNORED,
  checkpoint,
  currentTask,
  currentTime,
  isCancelled,
  moveOnAfter,
  openNursery,
  sleep,
  sleepForever,
  type Nursery,
  type TaskStatus,
} from "@quartet/core";
import { cancelShieldedCheckpoint, checkpointCounts, waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { autojump, installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

function group(e: unknown): ExceptionGroup {
  expect(e).toBeInstanceOf(ExceptionGroup);
  return e as ExceptionGroup;
}

describe("§5 B nurseries and start", () => {
  test("30. a body error comes out in a group, same identity (test_nursery_main_block_error_basic)", () =>
    qrun(async () => {
      const exc = new Error("body");
      const g = group(await rejection(openNursery(() => Promise.reject(exc))));
      expect(g.errors).toEqual([exc]);
      expect(g.errors[0]).toBe(exc);
      expect(g.exceptions).toBe(g.errors);
    }));

  test("31. a child crash cancels the sleeping body (test_child_crash_basic, _wakes_parent)", () =>
    qrun(async () => {
      let bodyCancelled = false;
      const g = group(
        await rejection(
          openNursery(async (n) => {
            n.startSoon(async () => {
              throw new RangeError("child");
            });
            try {
              await sleepForever();
            } catch (e) {
              bodyCancelled = e instanceof Cancelled;
              throw e;
            }
          }),
        ),
      );
      expect(bodyCancelled).toBe(true);
      expect(g.errors).toHaveLength(1);
      expect(g.errors[0]).toBeInstanceOf(RangeError);
    }));

  test("32. siblings are cancelled (test_task_crash_propagation)", () =>
    qrun(async () => {
      const log: string[] = [];
      const g = group(
        await rejection(
          openNursery(async (n) => {
            n.startSoon(async () => {
              try {
                for (;;) await checkpoint();
              } catch (e) {
                log.push("cancelled");
                throw e;
              }
            });
            n.startSoon(async () => {
              throw new Error("argh");
            });
          }),
        ),
      );
      expect(log).toEqual(["cancelled"]);
      expect(g.errors.map((e) => (e as Error).message)).toEqual(["argh"]);
    }));

  test("33. body and child both crash; two children crash", () =>
    qrun(async () => {
      const g = group(
        await rejection(
          openNursery(async (n) => {
            n.startSoon(async () => {
              throw new RangeError("child");
            });
            await cancelShieldedCheckpoint();
            await cancelShieldedCheckpoint();
            throw new TypeError("body");
          }),
        ),
      );
      expect(g.errors.map((e) => (e as Error).constructor)).toEqual([RangeError, TypeError]);
      const g2 = group(
        await rejection(
          openNursery(async (n) => {
            n.startSoon(async () => {
              throw new RangeError("a");
            });
            n.startSoon(async () => {
              throw new TypeError("b");
            });
          }),
        ),
      );
      expect(g2.errors.map((e) => (e as Error).message)).toEqual(["a", "b"]);
    }));

  test("34. cancellation reaches grandchildren (test_cancel_inheritance)", () =>
    qrun(async () => {
      const log: string[] = [];
      async function leaf(name: string) {
        try {
          await sleepForever();
        } catch (e) {
          log.push(name);
          throw e;
        }
      }
      async function worker(name: string) {
        await openNursery(async (n) => {
          n.startSoon(() => leaf(`${name}-1`));
          n.startSoon(() => leaf(`${name}-2`));
        });
      }
      await openNursery(async (n) => {
        n.startSoon(() => worker("w1"));
        n.startSoon(() => worker("w2"));
        await waitAllTasksBlocked();
        n.cancelScope.cancel();
      });
      expect(log.sort()).toEqual(["w1-1", "w1-2", "w2-1", "w2-2"]);
    }));

  test("35. a task spawned into a cancelled nursery starts, then gets Cancelled (test_precancelled_task)", () =>
    qrun(async () => {
      const log: string[] = [];
      await openNursery(async (n) => {
        n.cancelScope.cancel();
        n.startSoon(async () => {
          log.push("started");
          try {
            await sleepForever();
          } catch (e) {
            log.push(e instanceof Cancelled ? "cancelled" : "other");
            throw e;
          }
        });
      });
      expect(log).toEqual(["started", "cancelled"]);
    }));

  test("36. children inherit the nursery's scope, not the spawn point's", () =>
    autojump(async () => {
      const t0 = currentTime();
      let finished = -1;
      await openNursery(async (n) => {
        await moveOnAfter(10, async () => {
          n.startSoon(async () => {
            await sleep(1000);
            finished = currentTime() - t0;
          });
        });
      });
      expect(finished).toBe(1000);
    }));

  test("37. an empty nursery in a cancelled scope does not raise, but is a schedule point (test_trivial_yields)", () =>
    qrun(async () => {
      const cs = new CancelScope();
      await cs.run(async () => {
        cs.cancel();
        const before = checkpointCounts().schedulePoints;
        await openNursery(() => undefined);
        expect(checkpointCounts().schedulePoints).toBeGreaterThan(before);
        await openNursery((n) => {
          n.startSoon(() => undefined);
        });
        const g = group(await rejection(openNursery(() => Promise.reject(new SyntaxError("k")))));
        expect(g.errors[0]).toBeInstanceOf(SyntaxError);
      });
      expect(cs.cancelledCaught).toBe(false);
    }));

  test("38. outer-scope Cancelleds stay in the group until the outer scope strips them", () =>
    qrun(async () => {
      const outer = new CancelScope();
      let inner: unknown;
      const e = await rejection(
        outer.run(async () => {
          try {
            await openNursery(async (n) => {
              const sleeper = () => sleepForever();
              n.startSoon(sleeper);
              n.startSoon(sleeper);
              await waitAllTasksBlocked();
              n.cancelScope.cancel();
              await new CancelScope({ shield: true }).run(() => waitAllTasksBlocked());
              n.startSoon(sleeper);
              outer.cancel();
              n.startSoon(async () => {
                throw new SyntaxError("crasher");
              });
            });
          } catch (err) {
            inner = err;
            throw err;
          }
        }),
      );
      const g = group(inner);
      expect(g.errors.filter((x) => x instanceof Cancelled)).toHaveLength(3);
      expect(g.errors.filter((x) => x instanceof SyntaxError)).toHaveLength(1);
      const stripped = group(e);
      expect(stripped.errors).toHaveLength(1);
      expect(stripped.errors[0]).toBeInstanceOf(SyntaxError);
      expect(outer.cancelledCaught).toBe(true);
    }));

  test("39. outer cancel: the nursery raises a group of Cancelleds that the outer scope swallows", () =>
    qrun(async () => {
      const outer = new CancelScope();
      let inner: unknown;
      await outer.run(async () => {
        try {
          await openNursery(async (n) => {
            n.startSoon(() => sleepForever());
            await waitAllTasksBlocked();
            outer.cancel();
            await sleepForever();
          });
        } catch (e) {
          inner = e;
          throw e;
        }
      });
      const g = group(inner);
      expect(g.errors).toHaveLength(2);
      expect(isCancelled(g)).toBe(true);
      expect(outer.cancelledCaught).toBe(true);
    }));

  test("40. children may spawn while the parent waits on exit; afterwards the nursery is closed (test_nursery_closure)", () =>
    qrun(async () => {
      const log: string[] = [];
      let saved: Nursery | undefined;
      await openNursery(async (n) => {
        saved = n;
        n.startSoon(async () => {
          await checkpoint();
          n.startSoon(async () => {
            log.push("grandchild");
          });
        });
      });
      expect(log).toEqual(["grandchild"]);
      expect(saved!.closed).toBe(true);
      expect(() => saved!.startSoon(async () => undefined)).toThrow(RuntimeError);
      expect(() => saved!.startSoon(async () => undefined)).toThrow(/closed/);
      expect(await rejection(saved!.start(async () => undefined))).toBeInstanceOf(RuntimeError);
    }));

  test("41. return inside the body does not cancel the children (#1009)", () =>
    autojump(async () => {
      const t0 = currentTime();
      const v = await openNursery(async (n) => {
        n.startSoon(() => sleep(5000));
        return "body value";
      });
      expect(v).toBe("body value");
      expect(currentTime() - t0).toBe(5000);
    }));

  test("42. start happy path (test_nursery_start)", () =>
    autojump(async () => {
      async function sleepThenStart(seconds: number, status: TaskStatus<number> = TASK_STATUS_IGNORED) {
        await sleep(seconds * 1000);
        status.started(seconds);
        await sleep(seconds * 1000);
      }
      const t0 = currentTime();
      await openNursery(async (n) => {
        const v = await n.start<number>((status) => sleepThenStart(3, status));
        expect(v).toBe(3);
        expect(currentTime() - t0).toBe(3000);
        expect(n.childTasks.size).toBe(1);
      });
      expect(currentTime() - t0).toBe(6000);
      const t1 = currentTime();
      await sleepThenStart(3);
      expect(currentTime() - t1).toBe(6000);
    }));

  describe("43. start errors", () => {
    test("started() twice raises RuntimeError", () =>
      qrun(async () => {
        let second: unknown;
        await openNursery(async (n) => {
          await n.start(async (status) => {
            status.started();
            try {
              status.started();
            } catch (e) {
              second = e;
            }
          });
        });
        expect(second).toBeInstanceOf(RuntimeError);
      }));

    test("an error before started() rejects start bare; the target is not cancelled", () =>
      qrun(async () => {
        await openNursery(async (n) => {
          const e = await rejection(
            n.start(async () => {
              throw new SyntaxError("before started");
            }),
          );
          expect(e).toBeInstanceOf(SyntaxError);
          expect(n.cancelScope.cancelCalled).toBe(false);
        });
      }));

    test("returning without started() raises RuntimeError", () =>
      qrun(async () => {
        await openNursery(async (n) => {
          const e = await rejection(n.start(async () => undefined));
          expect(e).toBeInstanceOf(RuntimeError);
          expect(String(e)).toMatch(/exited without calling started/);
        });
      }));

    test("start on a closed nursery rejects at once, no time passes", () =>
      autojump(async () => {
        let saved: Nursery | undefined;
        await openNursery((n) => {
          saved = n;
        });
        const t0 = currentTime();
        expect(await rejection(saved!.start(() => sleep(100)))).toBeInstanceOf(RuntimeError);
        expect(currentTime()).toBe(t0);
      }));
  });

  describe("44. start while cancelled", () => {
    test("started() then a checkpoint: start raises Cancelled, nothing joins the target", () =>
      qrun(async () => {
        await openNursery(async (n) => {
          const cs = new CancelScope();
          await cs.run(async () => {
            cs.cancel();
            const e = await rejection(
              n.start<string>(async (status) => {
                status.started("hi");
                await checkpoint();
              }),
            );
            expect(e).toBeInstanceOf(Cancelled);
            throw e;
          });
          expect(cs.cancelledCaught).toBe(true);
          expect(n.childTasks.size).toBe(0);
        });
      }));

    test("started() and return without a checkpoint: start returns normally", () =>
      qrun(async () => {
        await openNursery(async (n) => {
          const cs = new CancelScope();
          await cs.run(async () => {
            cs.cancel();
            const v = await n.start<null>(async (status) => {
              status.started(null);
            });
            expect(v).toBe(null);
          });
          expect(cs.cancelledCaught).toBe(false);
        });
      }));

    test("started() then an error: the error comes out of start", () =>
      qrun(async () => {
        await openNursery(async (n) => {
          const cs = new CancelScope();
          await cs.run(async () => {
            cs.cancel();
            const e = await rejection(
              n.start(async (status) => {
                status.started();
                throw new SyntaxError("after");
              }),
            );
            expect(e).toBeInstanceOf(SyntaxError);
          });
        });
      }));
  });

  test("45. an error after started() goes to the target nursery", () =>
    qrun(async () => {
      let got: unknown;
      const g = group(
        await rejection(
          openNursery(async (n) => {
            got = await n.start<number>(async (status) => {
              status.started(1);
              await checkpoint();
              throw new SyntaxError("after started");
            });
          }),
        ),
      );
      expect(got).toBe(1);
      expect(g.errors[0]).toBeInstanceOf(SyntaxError);
    }));

  test("46. a pending start keeps the target open (test_nursery_start_keeps_nursery_open)", () =>
    autojump(async () => {
      async function sleepABit(status: TaskStatus) {
        await sleep(2000);
        status.started();
        await sleep(3000);
      }
      const t0 = currentTime();
      await openNursery(async (n1) => {
        await openNursery(async (n2) => {
          n1.startSoon(() => n2.start(sleepABit));
          await sleep(1000);
          n1.startSoon(() => n2.start(sleepABit));
        });
        expect(currentTime() - t0).toBe(6000);
      });
      const t1 = currentTime();
      let startError: unknown;
      await openNursery(async (n1) => {
        await openNursery(async (n2) => {
          n1.startSoon(async () => {
            startError = await rejection(
              n2.start(async () => {
                await sleep(7000);
                throw new SyntaxError("no started");
              }),
            );
          });
        });
        expect(currentTime() - t1).toBe(7000);
      });
      expect(startError).toBeInstanceOf(SyntaxError);
    }));

  test("47. starting into a cancelled target cancels the moved children (test_nursery_start_with_cancelled_nursery)", () =>
    qrun(async () => {
      const log: string[] = [];
      await openNursery(async (target) => {
        await target.start(async (status) => {
          await openNursery(async (inner) => {
            for (const name of ["a", "b"]) {
              inner.startSoon(async () => {
                try {
                  await sleepForever();
                } catch (e) {
                  log.push(name);
                  throw e;
                }
              });
            }
            await waitAllTasksBlocked();
            target.cancelScope.cancel();
            status.started();
          });
        });
      });
      expect(log.sort()).toEqual(["a", "b"]);
    }));

  test("48. an error before started() keeps its cause (test_start_exception_preserves_cause_and_context)", () =>
    qrun(async () => {
      const cause = new SyntaxError("cause");
      const e = await rejection(
        openNursery(async (n) => {
          await n.start(async () => {
            throw new RangeError("value", { cause });
          });
        }),
      );
      const g = group(e);
      expect(g.errors[0]).toBeInstanceOf(RangeError);
      expect((g.errors[0] as Error).cause).toBe(cause);
    }));

  test("49. strict groups always: one error is grouped, two errors are grouped", () =>
    qrun(async () => {
      const one = group(
        await rejection(
          openNursery((n) => {
            n.startSoon(async () => {
              throw new RangeError("1");
            });
          }),
        ),
      );
      expect(one.errors).toHaveLength(1);
      expect(one.message).toMatch(/nursery/);
    }));

  test("50. task-tree introspection (test_task_tree_introspection)", () =>
    qrun(async () => {
      const main = currentTask();
      expect(main.parentNursery).toBe(null);
      await openNursery(async (n1) => {
        expect(main.childNurseries).toEqual([n1]);
        await openNursery(async (n2) => {
          expect(main.childNurseries).toEqual([n1, n2]);
          await n1.start(async (status) => {
            const me = currentTask();
            expect(me.eventualParentNursery).toBe(n1);
            expect(me.parentNursery).not.toBe(n1);
            status.started();
            expect(me.parentNursery).toBe(n1);
            expect(me.eventualParentNursery).toBe(null);
          });
          n2.startSoon(
            async () => {
              expect(currentTask().parentNursery).toBe(n2);
              expect(currentTask().name).toBe("kid");
              expect(String(currentTask())).toBe("<Task kid>");
            },
            { name: "kid" },
          );
        });
        expect(main.childNurseries).toEqual([n1]);
      });
      expect(main.childNurseries).toEqual([]);
    }));

  test("51. misnesting cannot be written with callback scopes: an escaped nursery is closed", () =>
    qrun(async () => {
      let escaped: Nursery | undefined;
      await openNursery((n) => {
        escaped = n;
      });
      expect(() => escaped!.startSoon(() => sleep(1))).toThrow(RuntimeError);
    }));

  test("the exit wait is not a cancel point and cannot be cut short", () =>
    autojump(async () => {
      const t0 = currentTime();
      const outer = new CancelScope();
      let childDone = false;
      await outer.run(async () => {
        await openNursery(async (n) => {
          n.startSoon(async () => {
            await new CancelScope({ shield: true }).run(() => sleep(500));
            childDone = true;
          });
          await waitAllTasksBlocked();
          outer.cancel();
        });
      });
      expect(childDone).toBe(true);
      expect(currentTime() - t0).toBe(500);
      expect(outer.cancelledCaught).toBe(false);
    }));

  test("bad input", () =>
    qrun(async () => {
      expect(() => openNursery(42 as never)).toThrow(TypeError);
      await openNursery(async (n) => {
        expect(() => n.startSoon("nope" as never)).toThrow(/Nursery.startSoon: fn must be a function, got "nope"/);
        expect(() => n.startSoon(async () => undefined, { name: 5 as never })).toThrow(TypeError);
        expect(() => n.start(null as never)).toThrow(TypeError);
      });
    }));
});
