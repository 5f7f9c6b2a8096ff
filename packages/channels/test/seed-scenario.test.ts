// The seed scenario: a producer emitting at irregular intervals and a consumer with a per-item timeout
// around receive(). Timeouts must never kill the producer and must lose no item: with asSafeChannel,
// and with a plain producer task feeding a memory channel.
import { describe, expect, test } from "vitest";
import { Cancelled, EndOfChannel, moveOnAfter, openNursery, sleep } from "@quartet/core";
import { asSafeChannel, openMemoryChannel, withSafeChannel } from "@quartet/channels";
import { autojump, installLeakCheck } from "./helpers.js";

installLeakCheck();

/** Irregular gaps (ms) between items: some well under the consumer's timeout, some far over it. */
const GAPS = [3, 45, 1, 1, 120, 7, 30, 0, 64, 2, 19, 250, 5, 11, 0, 80];
const TIMEOUT = 20;

type Step = { item: number } | "timeout";

/** Receives with a per-item timeout until the end of the stream; logs each step. */
async function consume(receive: () => Promise<number>): Promise<Step[]> {
  const steps: Step[] = [];
  for (;;) {
    let ended = false;
    let got: number | undefined;
    const scope = await moveOnAfter(TIMEOUT, async (sc) => {
      try {
        got = await receive();
      } catch (e) {
        if (!(e instanceof EndOfChannel)) throw e;
        ended = true;
      }
      return sc;
    });
    if (ended) return steps;
    steps.push(scope === undefined ? "timeout" : { item: got! });
  }
}

function items(steps: Step[]): number[] {
  return steps.flatMap((s) => (s === "timeout" ? [] : [s.item]));
}

describe("seed scenario: per-item timeouts on an irregular producer", () => {
  test("asSafeChannel: no item lost, the generator never sees a cancellation", () =>
    autojump(async () => {
      const producerLog: string[] = [];
      const ticks = asSafeChannel(async function* (gaps: number[]) {
        try {
          for (let i = 0; i < gaps.length; i++) {
            await sleep(gaps[i]!);
            yield i;
          }
          producerLog.push("exhausted");
        } catch (e) {
          producerLog.push(e instanceof Cancelled ? "producer cancelled" : `producer failed: ${String(e)}`);
          throw e;
        }
      });
      const steps = await withSafeChannel(ticks(GAPS), (rx) => consume(() => rx.receive()));
      expect(items(steps)).toEqual(GAPS.map((_, i) => i));
      expect(steps.filter((s) => s === "timeout").length).toBeGreaterThan(5);
      expect(producerLog).toEqual(["exhausted"]);
    }));

  test("a producer task and a bounded channel: no item lost, the producer is never cancelled", () =>
    autojump(async () => {
      const producerLog: string[] = [];
      const [tx, rx] = openMemoryChannel<number>(2);
      let steps: Step[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          using send = tx;
          try {
            for (let i = 0; i < GAPS.length; i++) {
              await sleep(GAPS[i]!);
              await send.send(i);
            }
            producerLog.push("done");
          } catch (e) {
            producerLog.push(`producer saw ${String(e)}`);
            throw e;
          }
        });
        steps = await consume(() => rx.receive());
      });
      expect(items(steps)).toEqual(GAPS.map((_, i) => i));
      expect(steps.filter((s) => s === "timeout").length).toBeGreaterThan(5);
      expect(producerLog).toEqual(["done"]);
    }));

  test("the anti-pattern, for contrast: a timeout around it.next() kills the generator", () =>
    autojump(async () => {
      const producerLog: string[] = [];
      async function* ticks(): AsyncGenerator<number> {
        try {
          for (let i = 0; i < GAPS.length; i++) {
            await sleep(GAPS[i]!);
            yield i;
          }
        } catch (e) {
          producerLog.push(e instanceof Cancelled ? "producer cancelled" : "other");
          throw e;
        }
      }
      const it = ticks();
      const got: number[] = [];
      for (let k = 0; k < 4; k++) {
        const r = await moveOnAfter(TIMEOUT, () => it.next());
        if (r === undefined || r.done) break;
        got.push(r.value);
      }
      expect(producerLog).toEqual(["producer cancelled"]);
      expect(got).toEqual([0]);
    }));
});
