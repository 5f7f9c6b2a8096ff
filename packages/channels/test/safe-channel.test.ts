// Trio §5 D (as_safe_channel), ported scenario by scenario, plus the Quartet-specific rules: no
// read-ahead after a cancelled receive, the generator task's parent scope, and error delivery.
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  CancelScope,
  Cancelled,
  ClosedResourceError,
  EndOfChannel,
  ExceptionGroup,
  WouldBlock,
  checkpoint,
  currentTask,
  installGeneratorGuard,
  type GuardViolation,
  currentTime,
  moveOnAfter,
  openNursery,
  sleep,
  sleepForever,
} from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { SafeChannel, asSafeChannel, withSafeChannel } from "@quartet/channels";
import { autojump, expectCheckpoints, installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

// Every scenario runs under the generator guard in "throw" mode: asSafeChannel always resumes the
// generator from its own task, and its cancellations come from ancestors of that task, so the guard
// must never see a violation.
let violations: GuardViolation[] = [];
let uninstallGuard: () => void = () => undefined;
beforeEach(() => {
  violations = [];
  uninstallGuard = installGeneratorGuard({ mode: "throw", onViolation: (v) => violations.push(v) });
});
afterEach(() => {
  uninstallGuard();
  expect(violations).toEqual([]);
});

const counter = asSafeChannel(async function* counter(log: string[] = [], n: number = Infinity) {
  try {
    for (let i = 0; i < n; i++) {
      log.push(`produce ${i}`);
      yield i;
    }
  } finally {
    log.push("finally");
  }
});

describe("§5 D asSafeChannel", () => {
  test("79. exhausting the generator ends the loop cleanly (test_as_safe_channel_exhaust)", () =>
    qrun(async () => {
      const one = asSafeChannel(async function* () {
        yield 1;
      });
      const got: number[] = [];
      await withSafeChannel(one(), async (rx) => {
        for await (const x of rx) got.push(x);
      });
      expect(got).toEqual([1]);
      {
        await using rx = one();
        const again: number[] = [];
        for await (const x of rx) again.push(x);
        expect(again).toEqual([1]);
        expect(await rejection(rx.receive())).toBeInstanceOf(EndOfChannel);
      }
    }));

  test("80. lazy start; an early exit runs the generator's finally before the block returns", () =>
    qrun(async () => {
      const log: string[] = [];
      await withSafeChannel(counter(log), async (rx) => {
        log.push("consumer entered");
        await sleep(0);
        for await (const x of rx) {
          log.push(`got ${x}`);
          break;
        }
      });
      log.push("exited");
      expect(log).toEqual(["consumer entered", "produce 0", "got 0", "finally", "exited"]);

      const log2: string[] = [];
      {
        await using rx = counter(log2);
        log2.push("consumer entered");
        log2.push(`got ${await rx.receive()}`);
      }
      log2.push("exited");
      expect(log2).toEqual(["consumer entered", "produce 0", "got 0", "finally", "exited"]);
    }));

  test("81. no read-ahead: the generator is not advanced past what was received (buffer_size_too_small)", () =>
    autojump(async () => {
      const gen = asSafeChannel(async function* () {
        yield 1;
        throw new Error("the generator was advanced");
      });
      await moveOnAfter(5, () =>
        withSafeChannel(gen(), async (rx) => {
          expect(await rx.receive()).toBe(1);
          await sleepForever();
        }),
      );
      expect(currentTime()).toBe(5);
    }));

  test("82. close, then receive raises ClosedResourceError; exit is clean (broken_resource)", () =>
    qrun(async () => {
      const log: string[] = [];
      await withSafeChannel(counter(log), async (rx) => {
        const it = rx[Symbol.asyncIterator]();
        expect(await it.next()).toEqual({ value: 0, done: false });
        await rx.aclose();
        expect(await rejection(it.next())).toBeInstanceOf(ClosedResourceError);
      });
      expect(log).toEqual(["produce 0", "finally"]);
    }));

  test("83. cancelled before use: the generator body never runs (test_as_safe_channel_cancelled)", () =>
    qrun(async () => {
      let ran = false;
      const gen = asSafeChannel(async function* () {
        ran = true;
        yield 1;
      });
      const scope = new CancelScope();
      await scope.run(() =>
        withSafeChannel(gen(), async (rx) => {
          scope.cancel();
          await rx.receive();
        }),
      );
      expect(scope.cancelledCaught).toBe(true);
      expect(ran).toBe(false);
    }));

  test("84. a generator error comes out bare, after the items before it (no_race)", () =>
    qrun(async () => {
      const oae = new RangeError("oae");
      const gen = asSafeChannel(async function* () {
        yield 1;
        throw oae;
      });
      const got: number[] = [];
      const err = await rejection(
        withSafeChannel(gen(), async (rx) => {
          for await (const x of rx) got.push(x);
        }),
      );
      expect(got).toEqual([1]);
      expect(err).toBe(oae);

      // The same with `await using`: the error leaves the loop once, disposal does not repeat it.
      const err2 = await rejection(
        (async () => {
          await using rx = gen();
          for await (const x of rx) void x;
        })(),
      );
      expect(err2).toBe(oae);
    }));

  test("85. body and generator cleanup both fail: a group of both (genexit_finally)", () =>
    qrun(async () => {
      const log: string[] = [];
      const agenErr = new RangeError("agen");
      const gen = asSafeChannel(async function* () {
        try {
          yield 1;
        } finally {
          log.push("finally");
          // eslint-disable-next-line no-unsafe-finally
          throw agenErr;
        }
      });
      const bodyErr = new TypeError("iterator");
      const err = await rejection(
        withSafeChannel(gen(), async (rx) => {
          for await (const x of rx) {
            void x;
            throw bodyErr;
          }
        }),
      );
      expect(err).toBeInstanceOf(ExceptionGroup);
      expect((err as ExceptionGroup).errors).toEqual([bodyErr, agenErr]);
      expect((err as ExceptionGroup).message).toMatch(/both failed/);
      expect(log).toEqual(["finally"]);
    }));

  test("86. a user's ExceptionGroup is not unwrapped (dont_unwrap_user_exceptiongroup)", () =>
    qrun(async () => {
      const group = new ExceptionGroup("foo", [new RangeError("bar")]);
      const err = await rejection(
        withSafeChannel(counter(), async () => {
          throw group;
        }),
      );
      expect(err).toBe(group);
    }));

  test("87. cancellation order: the body first, then the generator's cleanup (multi_cancel)", () =>
    qrun(async () => {
      const events: string[] = [];
      const gen = asSafeChannel(async function* () {
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          try {
            await checkpoint();
          } catch (e) {
            if (e instanceof Cancelled) events.push("agen cancel");
            // eslint-disable-next-line no-unsafe-finally
            throw e;
          }
        }
      });
      const outer = new CancelScope();
      await outer.run(() =>
        withSafeChannel(gen(), async (rx) => {
          for await (const x of rx) {
            void x;
            outer.cancel();
            try {
              await checkpoint();
            } catch (e) {
              if (e instanceof Cancelled) events.push("body cancel");
              throw e;
            }
          }
        }),
      );
      expect(events).toEqual(["body cancel", "agen cancel"]);
      expect(outer.cancelledCaught).toBe(true);
    }));

  describe("88. errors from the generator's own nurseries (no GeneratorExit in JS)", () => {
    test("a generator that runs a nursery per item; break → no error", () =>
      qrun(async () => {
        const gen = asSafeChannel(async function* () {
          for (let i = 0; ; i++) {
            const v = await openNursery(async (n) => {
              n.startSoon(() => sleep(0));
              return i;
            });
            yield v;
          }
        });
        await withSafeChannel(gen(), async (rx) => {
          for await (const x of rx) if (x === 2) break;
        });
      }));

    test("a nursery child in the generator's finally raises on cancel → the caller gets that group", () =>
      qrun(async () => {
        const gen = asSafeChannel(async function* () {
          try {
            yield 1;
          } finally {
            await openNursery(async (n) => {
              n.startSoon(async () => {
                try {
                  await sleepForever();
                } catch {
                  throw new RangeError("child");
                }
              });
            });
          }
        });
        const err = await rejection(
          withSafeChannel(gen(), async (rx) => {
            await rx.receive();
          }),
        );
        expect(err).toBeInstanceOf(ExceptionGroup);
        const leaves = (err as ExceptionGroup).errors;
        expect(leaves).toHaveLength(1);
        expect(leaves[0]).toBeInstanceOf(RangeError);
      }));
  });

  test("89. shared by two tasks, and nested loops (multiple_receiver, nested_loop)", () =>
    qrun(async () => {
      const got: [string, number][] = [];
      await withSafeChannel(counter(), async (rx) => {
        await openNursery(async (n) => {
          n.startSoon(async () => void got.push(["a", await rx.receive()]));
          n.startSoon(async () => void got.push(["b", await rx.receive()]));
        });
      });
      expect(got).toEqual([
        ["a", 0],
        ["b", 1],
      ]);

      const pairs: [number, number][] = [];
      await withSafeChannel(counter([], 3), async (outer) => {
        for await (const i of outer) {
          await withSafeChannel(counter([], 3), async (inner) => {
            for await (const j of inner) pairs.push([i, j]);
          });
        }
      });
      expect(pairs).toEqual([
        [0, 0],
        [0, 1],
        [0, 2],
        [1, 0],
        [1, 1],
        [1, 2],
        [2, 0],
        [2, 1],
        [2, 2],
      ]);
    }));

  describe("90. closing during or between iterations (close_*_iteration)", () => {
    test("another task closes the channel during an iteration", () =>
      autojump(async () => {
        const slow = asSafeChannel(async function* () {
          for (let i = 0; ; i++) {
            await sleep(10);
            yield i;
          }
        });
        let err: unknown;
        await withSafeChannel(slow(), async (rx) => {
          await openNursery(async (n) => {
            n.startSoon(async () => {
              await sleep(25);
              rx.close();
            });
            err = await rejection(
              (async () => {
                for await (const x of rx) void x;
              })(),
            );
          });
        });
        expect(err).toBeInstanceOf(ClosedResourceError);
      }));

    test("the consumer closes between iterations", () =>
      qrun(async () => {
        const log: string[] = [];
        await withSafeChannel(counter(log), async (rx) => {
          expect(await rx.receive()).toBe(0);
          rx.close();
          expect(await rejection(rx.receive())).toBeInstanceOf(ClosedResourceError);
        });
        expect(log).toEqual(["produce 0", "finally"]);
      }));

    test("closed before iterating: the generator never runs", () =>
      qrun(async () => {
        const log: string[] = [];
        await withSafeChannel(counter(log), async (rx) => {
          await rx.aclose();
          expect(await rejection(rx.receive())).toBeInstanceOf(ClosedResourceError);
        });
        expect(log).toEqual([]); // return() on an unstarted generator runs none of its body
      }));

    test("the generator closes its own channel mid-stream", () =>
      qrun(async () => {
        let self: SafeChannel<number> | undefined;
        const gen = asSafeChannel(async function* () {
          yield 1;
          self!.close();
          yield 2;
        });
        self = gen();
        await withSafeChannel(self, async (rx) => {
          expect(await rx.receive()).toBe(1);
          expect(await rejection(rx.receive())).toBeInstanceOf(ClosedResourceError);
        });
      }));
  });

  test("91. a cancelled receive does not make the generator read ahead (Trio's quirk, fixed)", () =>
    autojump(async () => {
      const log: string[] = [];
      const gen = asSafeChannel(async function* () {
        for (let i = 0; ; i++) {
          log.push(`start ${i}`);
          await sleep(2);
          log.push(`yield ${i}`);
          yield i;
        }
      });
      await withSafeChannel(gen(), async (rx) => {
        // Timed out while the generator computes item 0: item 0 is not lost and is not re-asked for.
        await moveOnAfter(1, () => rx.receive());
        expect(log).toEqual(["start 0"]);
        await sleep(10);
        expect(log).toEqual(["start 0", "yield 0"]);
        expect(rx.statistics().tasksWaitingSend).toBe(1); // item 0 waits in the hand-off
        expect(await rx.receive()).toBe(0);
        await sleep(10);
        expect(log).toEqual(["start 0", "yield 0"]); // no "start 1": nothing was asked for
        // A receive cancelled before the generator task even ran asks for nothing either.
        await moveOnAfter(0, () => rx.receive());
        await sleep(10);
        expect(log).toEqual(["start 0", "yield 0"]);
        expect(await rx.receive()).toBe(1);
        expect(log).toEqual(["start 0", "yield 0", "start 1", "yield 1"]);
      });
    }));
});

describe("asSafeChannel in Quartet", () => {
  test("the generator runs in its own task, a child of the scope where the channel was made", () =>
    qrun(async () => {
      const seen: string[] = [];
      const gen = asSafeChannel(async function* named() {
        seen.push(currentTask().name);
        yield 1;
      });
      const before = currentTask().childNurseries.length;
      await withSafeChannel(gen(), async (rx) => {
        expect(currentTask().childNurseries.length).toBe(before + 1);
        await rx.receive();
      });
      expect(seen).toEqual(["asSafeChannel(named)"]);
      expect(currentTask().childNurseries.length).toBe(before);
    }));

  test("cancelling the creating scope stops the generator; disposal itself raises no Cancelled", () =>
    autojump(async () => {
      const log: string[] = [];
      const gen = asSafeChannel(async function* () {
        try {
          for (let i = 0; ; i++) {
            await sleep(10);
            yield i;
          }
        } catch (e) {
          log.push(e instanceof Cancelled ? "generator cancelled" : "other");
          throw e;
        }
      });
      const scope = new CancelScope({ relativeDeadline: 25 });
      await scope.run(async () => {
        await using rx = gen();
        // The consumer is shielded: only the generator's task sees the deadline.
        await new CancelScope({ shield: true }).run(async () => {
          expect(await rx.receive()).toBe(0);
          expect(await rx.receive()).toBe(1);
          const e = await rejection(rx.receive());
          expect(e).toBeInstanceOf(Cancelled);
          expect((e as Cancelled).source).toBe("deadline");
        });
        log.push("consumer done");
      });
      expect(scope.cancelCalled).toBe(true);
      expect(log).toEqual(["generator cancelled", "consumer done"]);
    }));

  test("a timeout around receive() never cancels the generator", () =>
    autojump(async () => {
      const log: string[] = [];
      const gen = asSafeChannel(async function* () {
        try {
          for (let i = 0; i < 3; i++) {
            await sleep(30);
            yield i;
          }
        } catch (e) {
          log.push("generator saw " + String(e));
          throw e;
        }
      });
      const got: (number | "timeout")[] = [];
      await withSafeChannel(gen(), async (rx) => {
        for (;;) {
          let done = false;
          const v = await moveOnAfter(20, async () => {
            try {
              return await rx.receive();
            } catch (e) {
              if (e instanceof EndOfChannel) done = true;
              else throw e;
            }
          });
          if (done) break;
          got.push(v ?? "timeout");
        }
      });
      expect(got).toEqual(["timeout", 0, "timeout", 1, "timeout", 2]);
      expect(log).toEqual([]);
    }));

  test("a generator error nobody received comes out of disposal, never as an unhandled rejection", () =>
    autojump(async () => {
      const boom = new RangeError("boom");
      const gen = asSafeChannel(async function* () {
        yield 1;
        await sleep(5);
        throw boom;
      });
      const err = await rejection(
        (async () => {
          await using rx = gen();
          expect(await rx.receive()).toBe(1);
          await moveOnAfter(1, () => rx.receive()); // gives up before the generator fails
          await sleep(10);
        })(),
      );
      expect(err).toBe(boom);
      // The same with withSafeChannel, and with a body that failed too: both come out.
      const bodyErr = new TypeError("body");
      const err2 = await rejection(
        withSafeChannel(gen(), async (rx) => {
          await rx.receive();
          await moveOnAfter(1, () => rx.receive());
          await sleep(10);
          throw bodyErr;
        }),
      );
      expect((err2 as ExceptionGroup).errors).toEqual([bodyErr, boom]);
    }));

  test("receiveNowait takes an item already produced, and never resumes the generator", () =>
    autojump(async () => {
      const log: string[] = [];
      await withSafeChannel(counter(log), async (rx) => {
        expect(() => rx.receiveNowait()).toThrow(WouldBlock);
        expect(log).toEqual([]);
        await moveOnAfter(0, async () => {
          await rx.receive();
        });
        await sleep(1);
        expect(log).toEqual([]);
        expect(await expectCheckpoints(() => rx.receive())).toBe(0);
        expect(() => rx.receiveNowait()).toThrow(WouldBlock);
      });
    }));

  test("for await without `using`: break disposes the channel and the generator's task", () =>
    qrun(async () => {
      const log: string[] = [];
      for await (const x of counter(log)) if (x === 1) break;
      expect(log).toEqual(["produce 0", "produce 1", "finally"]);
    }));

  test("an exhausted channel cleans up after itself", () =>
    qrun(async () => {
      const rx = counter([], 2);
      const got: number[] = [];
      for await (const x of rx) got.push(x);
      expect(got).toEqual([0, 1]);
      await sleep(0);
      await sleep(0);
    }));

  test("a cleanup error on break comes out of the loop once (not again from disposal)", () =>
    qrun(async () => {
      const boom = new RangeError("cleanup");
      const gen = asSafeChannel(async function* () {
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          // eslint-disable-next-line no-unsafe-finally
          throw boom;
        }
      });
      const err = await rejection(
        (async () => {
          await using rx = gen();
          for await (const x of rx) if (x === 1) break;
        })(),
      );
      expect(err).toBe(boom);
      const err2 = await rejection(
        withSafeChannel(gen(), async (rx) => {
          for await (const x of rx) if (x === 1) break;
        }),
      );
      expect(err2).toBe(boom);
      const err3 = await rejection(
        (async () => {
          for await (const x of gen()) if (x === 1) break;
        })(),
      );
      expect(err3).toBe(boom);
    }));

  test("a second disposal is a no-op", () =>
    qrun(async () => {
      const boom = new RangeError("cleanup");
      const gen = asSafeChannel(async function* () {
        try {
          yield 1;
        } finally {
          // eslint-disable-next-line no-unsafe-finally
          throw boom;
        }
      });
      const rx = gen();
      await rx.receive();
      expect(await rejection(rx[Symbol.asyncDispose]())).toBe(boom);
      await rx[Symbol.asyncDispose]();
    }));

  test("bad arguments", () =>
    qrun(async () => {
      expect(() => asSafeChannel(42 as never)).toThrow(/asSafeChannel: genFn must be a function, got 42/);
      const notGen = asSafeChannel((() => 5) as never);
      expect(() => (notGen as () => unknown)()).toThrow(TypeError);
      expect(() => withSafeChannel({} as never, async () => 1)).toThrow(TypeError);
      const log: string[] = [];
      expect(() => withSafeChannel(counter(log), "x" as never)).toThrow(/withSafeChannel: body must be a function, got "x"/);
      await sleep(0); // the channel was closed, so its task finishes on its own
      await sleep(0);
      expect(log).toEqual([]);
    }));
});
