// The scheduler: forced macrotask yields, FIFO order, one host timer for all deadlines, run() and the
// implicit runtime.
import { describe, expect, test } from "vitest";
import {
  CancelScope,
  Cancelled,
  RuntimeError,
  checkpoint,
  currentTask,
  currentTime,
  moveOnAfter,
  openNursery,
  run,
  sleep,
  sleepForever,
} from "@quartet/core";
import { currentRuntime, currentStatistics, waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { MockClock } from "@quartet/testing";
import { autojump, installLeakCheck, qrun, rejection, settleMacrotasks } from "./helpers.js";

installLeakCheck();

describe("forced macrotask yield", () => {
  test("moveOnAfter(50) around a busy checkpoint loop returns", () =>
    qrun(async () => {
      let iterations = 0;
      const scope = new CancelScope({ relativeDeadline: 50 });
      await scope.run(async () => {
        for (;;) {
          await checkpoint();
          iterations++;
        }
      });
      expect(scope.cancelledCaught).toBe(true);
      expect(iterations).toBeGreaterThan(0);
    }));

  test("a setTimeout fires while a task loops on checkpoint()", () =>
    qrun(async () => {
      let fired = false;
      let loopsAfterFire = 0;
      setTimeout(() => {
        fired = true;
      }, 5);
      await openNursery(async (n) => {
        n.startSoon(async () => {
          while (loopsAfterFire < 10) {
            await checkpoint();
            if (fired) loopsAfterFire++;
          }
        });
      });
      expect(fired).toBe(true);
    }));

  test("I/O (an immediate) is not starved by two tasks ping-ponging through the run queue", () =>
    qrun(async () => {
      let immediate = false;
      setImmediate(() => {
        immediate = true;
      });
      await openNursery(async (n) => {
        for (let k = 0; k < 2; k++) {
          n.startSoon(async () => {
            while (!immediate) await sleep(0);
          });
        }
      });
      expect(immediate).toBe(true);
    }));
});

describe("scheduling order", () => {
  test("tasks run in spawn order and checkpoint loops interleave FIFO, identically on every run", async () => {
    async function trace(): Promise<string> {
      const log: string[] = [];
      await run(
        async () => {
          await openNursery(async (n) => {
            for (const name of ["a", "b", "c"]) {
              n.startSoon(async () => {
                for (let i = 0; i < 3; i++) {
                  log.push(`${name}${i}`);
                  await checkpoint();
                }
                await sleep(name === "a" ? 20 : 10);
                log.push(`${name}-woke@${currentTime()}`);
              });
            }
          });
        },
        { clock: new MockClock({ autojumpThreshold: 0 }) },
      );
      return log.join(" ");
    }
    const first = await trace();
    expect(first).toBe("a0 b0 c0 a1 b1 c1 a2 b2 c2 b-woke@10 c-woke@10 a-woke@20");
    expect(await trace()).toBe(first);
  });

  test("a task spawned by startSoon starts after the parent's next yield", () =>
    qrun(async () => {
      const log: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          log.push("child");
        });
        log.push("parent before yield");
        await checkpoint();
        log.push("parent after yield");
      });
      expect(log).toEqual(["parent before yield", "child", "parent after yield"]);
    }));
});

describe("deadlines and the host timer", () => {
  test("many concurrent timeouts share one host timer", () =>
    qrun(async () => {
      // Count the timers the runtime itself creates (vitest's own come and go at any time, so the
      // process's handle count is not a reliable witness on a loaded machine).
      const real = globalThis.setTimeout;
      let runtimeTimers = 0;
      globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) => {
        if (/[\\/]core[\\/](src|dist)[\\/]/.test(new Error().stack ?? "")) runtimeTimers++;
        return real(fn, ms, ...rest);
      }) as typeof setTimeout;
      try {
        await openNursery(async (n) => {
          for (let i = 0; i < 200; i++) {
            n.startSoon(() => moveOnAfter(60_000 + (i % 7), () => sleepForever()));
          }
          await waitAllTasksBlocked();
          expect(currentStatistics().pendingDeadlines).toBe(200);
          expect(currentStatistics().hostTimerActive).toBe(true);
          expect(runtimeTimers).toBe(1);
          n.cancelScope.cancel();
        });
      } finally {
        globalThis.setTimeout = real;
      }
    }));

  test("a stream of scopes whose deadline never fires leaves no timer behind", () =>
    qrun(async () => {
      for (let i = 0; i < 1000; i++) await moveOnAfter(10_000, () => checkpoint());
      expect(currentStatistics().pendingDeadlines).toBe(0);
      await settleMacrotasks();
      expect(currentStatistics().hostTimerActive).toBe(false);
    }));

  test("sleeps wake in deadline order, equal deadlines first-in first-out", () =>
    autojump(async () => {
      const log: number[] = [];
      await openNursery(async (n) => {
        const delays = [30, 10, 20, 10, 30, 0];
        delays.forEach((d, i) => {
          n.startSoon(async () => {
            await sleep(d);
            log.push(i);
          });
        });
      });
      expect(log).toEqual([5, 1, 3, 2, 0, 4]);
    }));

  test("a simulated day of sleeping passes instantly on an autojump clock", () =>
    autojump(async () => {
      const t0 = currentTime();
      await sleep(24 * 3600 * 1000);
      expect(currentTime() - t0).toBe(24 * 3600 * 1000);
    }));
});

describe("run()", () => {
  test("returns main's value and rejects with main's error bare", async () => {
    expect(await run(async () => 42)).toBe(42);
    expect(await run(() => "sync")).toBe("sync");
    const e = new SyntaxError("bare");
    expect(await rejection(run(async () => Promise.reject(e)))).toBe(e);
    expect(await rejection(run(() => {
      throw e;
    }))).toBe(e);
  });

  test("run inside run rejects with RuntimeError", async () => {
    await run(async () => {
      expect(await rejection(run(async () => 1))).toBeInstanceOf(RuntimeError);
    });
  });

  test("the root task is called main and the runtime is not the implicit one", () =>
    run(async () => {
      expect(currentTask().name).toBe("main");
      expect(currentRuntime().implicit).toBe(false);
    }));

  test("an aborted signal cancels the run; run rejects with signal.reason", async () => {
    const ac = new AbortController();
    const reason = new Error("stop now");
    const log: string[] = [];
    const p = run(
      async () => {
        await openNursery(async (n) => {
          n.startSoon(async () => {
            try {
              await sleepForever();
            } finally {
              log.push("child unwound");
            }
          });
          await waitAllTasksBlocked();
          ac.abort(reason);
          await sleepForever();
        });
      },
      { signal: ac.signal },
    );
    expect(await rejection(p)).toBe(reason);
    expect(log).toEqual(["child unwound"]);
  });

  test("a signal aborted before run: main's first checkpoint is cancelled", async () => {
    const ac = new AbortController();
    ac.abort("early");
    let reached = false;
    const e = await rejection(
      run(
        async () => {
          await checkpoint();
          reached = true;
        },
        { signal: ac.signal },
      ),
    );
    expect(e).toBe("early");
    expect(reached).toBe(false);
  });

  test("main's value wins if it finishes without noticing the abort", async () => {
    const ac = new AbortController();
    const v = await run(
      () => {
        ac.abort();
        return "finished";
      },
      { signal: ac.signal },
    );
    expect(v).toBe("finished");
  });

  test("the abort cancellation has source abort", async () => {
    const ac = new AbortController();
    let seen: unknown;
    await rejection(
      run(
        async () => {
          ac.abort(new Error("why"));
          try {
            await checkpoint();
          } catch (e) {
            seen = e;
            throw e;
          }
        },
        { signal: ac.signal },
      ),
    );
    expect(seen).toBeInstanceOf(Cancelled);
    expect((seen as Cancelled).source).toBe("abort");
  });

  test("bad options are rejected synchronously", () => {
    expect(() => run(5 as never)).toThrow(TypeError);
    expect(() => run(async () => 1, { clock: {} as never })).toThrow(/opts.clock/);
    expect(() => run(async () => 1, { signal: "x" as never })).toThrow(/opts.signal/);
    expect(() => run(async () => 1, { instruments: {} as never })).toThrow(/opts.instruments/);
  });
});

describe("the implicit runtime (outside run)", () => {
  test("nurseries, sleeps and timeouts work without run()", async () => {
    const log: string[] = [];
    expect(currentRuntime().implicit).toBe(true);
    await openNursery(async (n) => {
      n.startSoon(async () => {
        await sleep(5);
        log.push("slept");
      });
      const v = await moveOnAfter(5, () => sleepForever());
      log.push(`timeout ${v}`);
    });
    expect(log.sort()).toEqual(["slept", "timeout undefined"]);
  });

  test("separate async chains get separate implicit tasks", async () => {
    const [a, b] = await Promise.all([
      (async () => {
        await null;
        const t = currentTask();
        await sleep(1);
        expect(currentTask()).toBe(t);
        return t;
      })(),
      (async () => {
        await null;
        return currentTask();
      })(),
    ]);
    expect(a).not.toBe(b);
  });
});
