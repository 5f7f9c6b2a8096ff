// Property: a CapacityLimiter(N) never has more than N holders, whatever mix of acquire styles,
// hold times and cancellations (while queued, at the very moment of a hand-off, or while holding)
// hits it; every acquirer that is not cancelled gets in; and nothing is left behind afterwards.
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { CancelScope, CapacityLimiter, openNursery, sleep } from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { autojump, installLeakCheck } from "./helpers.js";

installLeakCheck();

const worker = fc.record({
  /** Virtual ms before the worker asks for a token. */
  start: fc.integer({ min: 0, max: 10 }),
  /** Virtual ms it holds the token. */
  hold: fc.integer({ min: 0, max: 10 }),
  /** Virtual ms after its start when its scope is cancelled; null: never. Small values often coincide with hand-offs. */
  cancelAfter: fc.option(fc.integer({ min: 0, max: 25 }), { nil: null }),
  /** How it borrows. */
  mode: fc.constantFrom("acquire", "run", "onBehalfOf"),
});

describe("CapacityLimiter under random cancellation (fast-check)", () => {
  test("never admits more than totalTokens, admits every uncancelled acquirer, leaves no trace", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 4 }), fc.array(worker, { minLength: 1, maxLength: 20 }), (total, workers) =>
        autojump(async () => {
          const limiter = new CapacityLimiter(total);
          let inside = 0;
          let peak = 0;
          let admittedUncancellable = 0;
          const enter = () => {
            inside++;
            peak = Math.max(peak, inside);
            expect(inside).toBeLessThanOrEqual(total);
            expect(limiter.borrowedTokens).toBeLessThanOrEqual(total);
          };
          await openNursery(async (n) => {
            for (const w of workers) {
              n.startSoon(async () => {
                await sleep(w.start);
                const scope = new CancelScope({ relativeDeadline: w.cancelAfter ?? Infinity });
                await scope.run(async () => {
                  const body = async () => {
                    enter();
                    if (w.cancelAfter === null) admittedUncancellable++;
                    try {
                      await sleep(w.hold);
                    } finally {
                      inside--;
                    }
                  };
                  if (w.mode === "run") {
                    await limiter.run(body);
                  } else if (w.mode === "acquire") {
                    await limiter.acquire();
                    try {
                      await body();
                    } finally {
                      limiter.release();
                    }
                  } else {
                    const borrower = {};
                    await limiter.acquireOnBehalfOf(borrower);
                    try {
                      await body();
                    } finally {
                      limiter.releaseOnBehalfOf(borrower);
                    }
                  }
                });
              });
            }
            if (total === 0) {
              // Nobody can get in until the limit is raised: let every deadline fire, then open up.
              await sleep(100);
              expect(limiter.borrowedTokens).toBe(0);
              limiter.totalTokens = 1;
              total = 1;
            }
            await waitAllTasksBlocked();
          });
          const stats = limiter.statistics();
          expect(stats).toEqual({ borrowedTokens: 0, totalTokens: total, borrowers: [], tasksWaiting: 0 });
          expect(admittedUncancellable).toBe(workers.filter((w) => w.cancelAfter === null).length);
          expect(peak).toBeLessThanOrEqual(total);
        }),
      ),
      { numRuns: 60 },
    );
  });
});
