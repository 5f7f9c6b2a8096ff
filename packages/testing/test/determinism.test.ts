// Determinism and speed of virtual time: a simulated hour of 10k sleeping tasks, and a simulated hour
// of timeouts, retries and backoff, each finishing in a fraction of a second with the same trace on
// every run.
import { describe, expect, test } from "vitest";
import { TooSlowError, currentTime, failAfter, isCancelled, moveOnAfter, openNursery, sleep } from "@quartet/core";
import { quartetTest } from "@quartet/testing";
import { installLeakCheck, prng } from "./helpers.js";

installLeakCheck();

const HOUR = 3_600_000;

/** Real-time bound for a simulated hour. Generous for a loaded CI machine; the point is "not an hour". */
const REAL_MS_BOUND = 5000;

describe("10k tasks sleeping random virtual times over a simulated hour", () => {
  /** Each task sleeps random whole-second durations until the hour is over; returns the wake trace. */
  const simulate = quartetTest(async () => {
    const rand = prng(20240817);
    const trace: number[] = [];
    let late = 0;
    await openNursery(async (n) => {
      for (let id = 0; id < 10_000; id++) {
        n.startSoon(async () => {
          for (;;) {
            const d = (1 + Math.floor(rand() * 3600)) * 1000;
            const deadline = currentTime() + d;
            if (deadline > HOUR) return;
            await sleep(d);
            if (currentTime() !== deadline) late++;
            trace.push(currentTime(), id);
          }
        });
      }
    });
    return { trace, late, end: currentTime() };
  });

  test("completes fast, wakes every task exactly on time, and gives the same trace twice", async () => {
    const t0 = performance.now();
    const a = await simulate();
    const t1 = performance.now();
    const b = await simulate();
    const t2 = performance.now();
    console.log(`10k tasks, simulated hour: ${(t1 - t0).toFixed(0)} ms and ${(t2 - t1).toFixed(0)} ms real, ${a.trace.length / 2} wakes`);
    expect(a.trace.length / 2).toBeGreaterThan(10_000);
    expect(a.late).toBe(0);
    expect(a.end).toBeLessThanOrEqual(HOUR);
    for (let i = 2; i < a.trace.length; i += 2) expect(a.trace[i]! >= a.trace[i - 2]!).toBe(true);
    expect(b.trace).toEqual(a.trace);
    expect(t1 - t0).toBeLessThan(REAL_MS_BOUND);
    expect(t2 - t1).toBeLessThan(REAL_MS_BOUND);
  });
});

describe("self-test: an hour of timeouts, retries and exponential backoff with jitter", () => {
  interface Stats {
    requests: number;
    succeeded: number;
    gaveUp: number;
    timeouts: number;
    serverErrors: number;
    backoffs: number[];
    log: string[];
  }

  const simulate = quartetTest(async () => {
    const rand = prng(7);
    const stats: Stats = { requests: 0, succeeded: 0, gaveUp: 0, timeouts: 0, serverErrors: 0, backoffs: [], log: [] };

    // A flaky service: random latency, sometimes far too slow, sometimes failing.
    async function callService(): Promise<string> {
      const r = rand();
      await sleep(r < 0.2 ? 10_000 : 50 + Math.floor(rand() * 900));
      if (rand() < 0.25) throw new Error("503 Service Unavailable");
      return "ok";
    }

    // A client with a per-attempt timeout and capped exponential backoff with full jitter.
    async function withRetries(client: number): Promise<boolean> {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await failAfter(2000, callService);
          return true;
        } catch (e) {
          if (e instanceof TooSlowError) stats.timeouts++;
          else if (e instanceof Error && e.message.startsWith("503")) stats.serverErrors++;
          else throw e;
        }
        const cap = Math.min(30_000, 500 * 2 ** attempt);
        const delay = Math.floor(rand() * cap);
        const before = currentTime();
        await sleep(delay);
        // Virtual time is exact: the backoff took precisely the computed delay.
        expect(currentTime() - before).toBe(delay);
        stats.backoffs.push(delay);
        stats.log.push(`${currentTime()} client ${client} retry ${attempt + 1}`);
      }
      return false;
    }

    // Ten clients issue a request every 10–40 s for an hour; the hour is a moveOnAfter around them.
    await moveOnAfter(HOUR, () =>
      openNursery(async (n) => {
        for (let c = 0; c < 10; c++) {
          n.startSoon(async () => {
            for (;;) {
              stats.requests++;
              if (await withRetries(c)) stats.succeeded++;
              else stats.gaveUp++;
              await sleep(10_000 + Math.floor(rand() * 30_000));
            }
          });
        }
      }),
    );
    expect(currentTime()).toBe(HOUR);
    return stats;
  });

  test("runs in milliseconds, adds up, and is reproducible", async () => {
    const t0 = performance.now();
    const a = await simulate();
    const realMs = performance.now() - t0;
    const b = await simulate();
    console.log(
      `an hour of retries: ${realMs.toFixed(0)} ms real; ${a.requests} requests, ${a.succeeded} ok, ${a.gaveUp} gave up, ` +
        `${a.timeouts} timeouts, ${a.serverErrors} server errors, ${a.backoffs.length} backoffs`,
    );
    // Requests cut off by the end of the hour are neither successes nor failures.
    expect(a.succeeded + a.gaveUp).toBeLessThanOrEqual(a.requests);
    expect(a.requests - (a.succeeded + a.gaveUp)).toBeLessThanOrEqual(10);
    expect(a.succeeded).toBeGreaterThan(500);
    expect(a.timeouts).toBeGreaterThan(50);
    expect(a.serverErrors).toBeGreaterThan(50);
    expect(a.gaveUp).toBeGreaterThan(0);
    expect(a.backoffs.length).toBeLessThanOrEqual(a.timeouts + a.serverErrors);
    expect(b).toEqual(a);
    expect(realMs).toBeLessThan(REAL_MS_BOUND);
  });

  test("the end of the hour cancels the clients wherever they are", async () => {
    const states = await quartetTest(async () => {
      const where: string[] = [];
      await moveOnAfter(10_000, () =>
        openNursery(async (n) => {
          n.startSoon(async () => {
            try {
              await sleep(60_000);
            } catch (e) {
              where.push(isCancelled(e) ? "cancelled in backoff" : "other");
              throw e;
            }
          });
          n.startSoon(async () => {
            try {
              await failAfter(20_000, () => sleep(30_000));
            } catch (e) {
              where.push(isCancelled(e) ? "cancelled in request" : "other");
              throw e;
            }
          });
        }),
      );
      return where;
    })();
    expect(states.sort()).toEqual(["cancelled in backoff", "cancelled in request"]);
  });
});
