// FIFO fairness at scale: 1,000 tasks contending for each lock-like primitive are served in arrival
// order, round after round, and withdrawing (cancelling) some of them does not disturb the others.
import { describe, expect, test } from "vitest";
import {
  CancelScope,
  CapacityLimiter,
  Condition,
  Lock,
  Semaphore,
  StrictFIFOLock,
  checkpoint,
  openNursery,
} from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { installLeakCheck, qrun } from "./helpers.js";

installLeakCheck();

const TASKS = 1_000;

interface Contended {
  acquire(): Promise<void>;
  acquireNowait(): void;
  release(): void;
  statistics(): { tasksWaiting: number } | { lockStatistics: { tasksWaiting: number } };
}

function waiting(c: Contended): number {
  const s = c.statistics();
  return "lockStatistics" in s ? s.lockStatistics.tasksWaiting : s.tasksWaiting;
}

const factories: [string, () => Contended][] = [
  ["Lock", () => new Lock()],
  ["StrictFIFOLock", () => new StrictFIFOLock()],
  ["Semaphore(1)", () => new Semaphore(1)],
  ["CapacityLimiter(1)", () => new CapacityLimiter(1)],
  ["Condition", () => new Condition()],
];

describe(`FIFO fairness with ${TASKS} contending tasks`, () => {
  for (const [name, make] of factories) {
    test(`${name}: every round is served in arrival order`, () =>
      qrun(async () => {
        const ROUNDS = 3;
        const res = make();
        const arrival: number[] = [];
        const served: number[] = [];
        await openNursery(async (n) => {
          res.acquireNowait(); // everyone has to queue
          for (let i = 0; i < TASKS; i++) {
            n.startSoon(async () => {
              for (let r = 0; r < ROUNDS; r++) {
                if (r === 0) arrival.push(i);
                await res.acquire();
                served.push(i);
                await checkpoint(); // hold it across a schedule point: others pile up behind
                res.release();
              }
            });
          }
          await waitAllTasksBlocked();
          expect(waiting(res)).toBe(TASKS);
          res.release();
        });
        expect(arrival).toHaveLength(TASKS);
        expect(served).toHaveLength(TASKS * ROUNDS);
        for (let r = 0; r < ROUNDS; r++) expect(served.slice(r * TASKS, (r + 1) * TASKS)).toEqual(arrival);
      }));
  }

  for (const [name, make] of factories) {
    test(`${name}: cancelling every 7th waiter keeps the others in order`, () =>
      qrun(async () => {
        const res = make();
        const served: number[] = [];
        const scopes: CancelScope[] = [];
        await openNursery(async (n) => {
          res.acquireNowait();
          for (let i = 0; i < TASKS; i++) {
            const scope = new CancelScope();
            scopes.push(scope);
            n.startSoon(() =>
              scope.run(async () => {
                await res.acquire();
                served.push(i);
                res.release();
              }),
            );
            // Park each before starting the next, so arrival order is the index order.
            await waitAllTasksBlocked();
          }
          for (let i = 0; i < TASKS; i += 7) scopes[i]!.cancel();
          await waitAllTasksBlocked();
          expect(waiting(res)).toBe(TASKS - Math.ceil(TASKS / 7));
          res.release();
        });
        const expected = Array.from({ length: TASKS }, (_, i) => i).filter((i) => i % 7 !== 0);
        expect(served).toEqual(expected);
        expect(waiting(res)).toBe(0);
      }));
  }

  test("Semaphore(3) and CapacityLimiter(3) hand freed units out in arrival order", () =>
    qrun(async () => {
      for (const res of [new Semaphore(3), new CapacityLimiter(3)]) {
        const served: number[] = [];
        await openNursery(async (n) => {
          // The parent holds all 3 units, so everyone queues.
          for (const who of ["a", "b", "c"]) {
            if (res instanceof Semaphore) res.acquireNowait();
            else res.acquireOnBehalfOfNowait(who);
          }
          for (let i = 0; i < TASKS; i++) {
            n.startSoon(async () => {
              await res.acquire();
              served.push(i);
              await checkpoint();
              res.release();
            });
            await waitAllTasksBlocked();
          }
          expect(res.statistics().tasksWaiting).toBe(TASKS);
          for (const who of ["a", "b", "c"]) {
            if (res instanceof Semaphore) res.release();
            else res.releaseOnBehalfOf(who);
          }
        });
        expect(served).toEqual(Array.from({ length: TASKS }, (_, i) => i));
        expect(res.statistics().tasksWaiting).toBe(0);
      }
    }));
});
