// WHATWG stream adapters, on real streams: backpressure with a counting pull source, end, error and
// cancel propagation, and writes that wait for room.
import { describe, expect, test } from "vitest";
import { BrokenResourceError, EndOfChannel, cancellable, currentTime, moveOnAfter, openNursery, sleep } from "@quartet/core";
import { currentStatistics } from "@quartet/core/lowlevel";
import { fromReadableStream, openMemoryChannel, toWritableStream } from "@quartet/channels";
import { autojump, installLeakCheck, qrun, rejection, settleMacrotasks } from "./helpers.js";

installLeakCheck();

function countingStream(hwm = 1): { stream: ReadableStream<number>; produced: () => number; cancelled: () => unknown } {
  let produced = 0;
  let cancelled: unknown = undefined;
  const stream = new ReadableStream<number>(
    {
      pull(controller) {
        controller.enqueue(produced++);
      },
      cancel(reason) {
        cancelled = reason ?? "cancelled";
      },
    },
    new CountQueuingStrategy({ highWaterMark: hwm }),
  );
  return { stream, produced: () => produced, cancelled: () => cancelled };
}

function streamOf<T>(items: T[]): ReadableStream<T> {
  let i = 0;
  return new ReadableStream<T>({
    pull(c) {
      if (i < items.length) c.enqueue(items[i++]!);
      else c.close();
    },
  });
}

async function collect<T>(rx: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of rx) out.push(x);
  return out;
}

describe("fromReadableStream", () => {
  test("delivers every chunk in order, then EndOfChannel", () =>
    qrun(async () => {
      const stream = streamOf(["a", "b", "c"]);
      using rx = fromReadableStream(stream, { maxBufferSize: 1 });
      expect(await collect(rx)).toEqual(["a", "b", "c"]);
      expect(await rejection(rx.receive())).toBeInstanceOf(EndOfChannel);
      expect(stream.locked).toBe(false);
    }));

  for (const size of [0, 3]) {
    test(`backpressure: a slow consumer stops the source (counting pull source, buffer ${size})`, () =>
      qrun(async () => {
        const hwm = 2;
        const { stream, produced, cancelled } = countingStream(hwm);
        const rx = fromReadableStream(stream, { maxBufferSize: size });
        for (let i = 0; i < 3; i++) expect(await rx.receive()).toBe(i);
        await sleep(20);
        const n = produced();
        expect(n).toBeLessThanOrEqual(3 + size + 1 + hwm + 1);
        await sleep(20);
        expect(produced()).toBe(n);
        for (let i = 3; i < 15; i++) expect(await rx.receive()).toBe(i);
        rx.close();
        await settleMacrotasks();
        expect(cancelled()).not.toBeUndefined();
        const after = produced();
        await sleep(10);
        expect(produced()).toBe(after);
      }));
  }

  test("the stream's error comes out of receive()", () =>
    qrun(async () => {
      const boom = new RangeError("upstream");
      let i = 0;
      const stream = new ReadableStream<number>({
        pull(c) {
          if (i < 2) c.enqueue(i++);
          else c.error(boom);
        },
      });
      using rx = fromReadableStream(stream);
      expect(await rx.receive()).toBe(0);
      expect(await rx.receive()).toBe(1);
      expect(await rejection(rx.receive())).toBe(boom);
    }));

  test("closing the channel while a read is pending cancels the stream", () =>
    qrun(async () => {
      let cancelled = false;
      const stream = new ReadableStream<number>({
        pull() {
          return new Promise(() => undefined); // never produces
        },
        cancel() {
          cancelled = true;
        },
      });
      await moveOnAfter(5, async () => {
        using rx = fromReadableStream(stream);
        await rx.receive();
      });
      await settleMacrotasks();
      expect(cancelled).toBe(true);
      expect(currentStatistics().foreignWaits).toBe(0);
    }));

  test("a pending read counts as foreign work: no false deadlock report on an autojump clock", () =>
    autojump(async () => {
      let push!: (v: string) => void;
      const stream = new ReadableStream<string>({
        start(c) {
          push = (v) => c.enqueue(v);
        },
      });
      const timer = setTimeout(() => push("late"), 400);
      using rx = fromReadableStream(stream);
      expect(await rx.receive()).toBe("late");
      expect(currentTime()).toBe(0);
      clearTimeout(timer);
    }));

  test("bad arguments", () => {
    expect(() => fromReadableStream({} as never)).toThrow(/fromReadableStream: stream must be a ReadableStream, got an object/);
    expect(() => fromReadableStream(streamOf([]), { maxBufferSize: 0.5 })).toThrow(TypeError);
  });
});

describe("toWritableStream", () => {
  test("pipeTo into a channel: writes are sends, close() closes the send side", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<number>(1);
      let got: number[] = [];
      await openNursery(async (n) => {
        n.startSoon(() => cancellable((signal) => streamOf([1, 2, 3, 4]).pipeTo(toWritableStream(tx), { signal })));
        got = await collect(rx);
      });
      expect(got).toEqual([1, 2, 3, 4]);
    }));

  test("backpressure: a full channel holds the writer back (counting source)", () =>
    qrun(async () => {
      const { stream, produced, cancelled } = countingStream(1);
      const [tx, rx] = openMemoryChannel<number>(2);
      await openNursery(async (n) => {
        n.startSoon(async () => {
          const err = await rejection(cancellable((signal) => stream.pipeTo(toWritableStream(tx), { signal })));
          expect(err).toBeInstanceOf(BrokenResourceError);
        });
        for (let i = 0; i < 3; i++) expect(await rx.receive()).toBe(i);
        await sleep(20);
        const n1 = produced();
        expect(n1).toBeLessThanOrEqual(3 + 2 + 1 + 1 + 1 + 1);
        await sleep(20);
        expect(produced()).toBe(n1);
        rx.close();
      });
      await settleMacrotasks();
      expect(cancelled()).toBeInstanceOf(BrokenResourceError);
    }));

  test("writes fail once the receive side is closed", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<string>(1);
      const writer = toWritableStream(tx).getWriter();
      await writer.write("a");
      expect(rx.receiveNowait()).toBe("a");
      rx.close();
      expect(await rejection(writer.write("b"))).toBeInstanceOf(BrokenResourceError);
      expect(tx.statistics().openSendChannels).toBe(0);
    }));

  test("abort() does not wait for a write stuck on a full channel", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<string>(0);
      const writer = toWritableStream(tx).getWriter();
      const stuck = writer.write("never received");
      await settleMacrotasks();
      expect(tx.statistics().tasksWaitingSend).toBe(1);
      await writer.abort(new Error("stop"));
      expect(await rejection(stuck)).toBeInstanceOf(Error);
      expect(tx.statistics()).toMatchObject({ tasksWaitingSend: 0, openSendChannels: 0 });
      expect(await rejection(rx.receive())).toBeInstanceOf(EndOfChannel);
    }));

  test("close() ends the channel after the written items", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<number>(Infinity);
      const writer = toWritableStream(tx).getWriter();
      await writer.write(1);
      await writer.write(2);
      await writer.close();
      expect(await collect(rx)).toEqual([1, 2]);
    }));

  test("bad arguments", () => {
    expect(() => toWritableStream(null as never)).toThrow(/toWritableStream: send must be a MemorySendChannel, got null/);
  });
});
