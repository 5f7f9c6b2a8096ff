// Node stream adapters, on real streams: backpressure with a counting source, end and error
// propagation, destroy on close, no leaked listeners, and no false deadlock report while a read is
// pending under an autojump clock.
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, test } from "vitest";
import {
  BrokenResourceError,
  ClosedResourceError,
  EndOfChannel,
  cancellable,
  currentTime,
  moveOnAfter,
  openNursery,
  sleep,
} from "@quartet/core";
import { currentStatistics } from "@quartet/core/lowlevel";
import { fromReadable, openMemoryChannel, toWritable } from "@quartet/channels";
import { autojump, installLeakCheck, qrun, rejection, settleMacrotasks } from "./helpers.js";

installLeakCheck();

const EVENTS = ["readable", "data", "end", "error", "close"] as const;

function listeners(stream: NodeJS.EventEmitter): Record<string, number> {
  return Object.fromEntries(EVENTS.map((e) => [e, stream.listenerCount(e)]));
}

const NONE = Object.fromEntries(EVENTS.map((e) => [e, 0]));

/** An endless object-mode source that counts how many items it produced. */
function countingSource(hwm = 1): { src: Readable; produced: () => number; destroyed: () => boolean } {
  let produced = 0;
  let destroyed = false;
  const src = new Readable({
    objectMode: true,
    highWaterMark: hwm,
    read() {
      this.push(produced++);
    },
    destroy(err, cb) {
      destroyed = true;
      cb(err);
    },
  });
  return { src, produced: () => produced, destroyed: () => destroyed };
}

async function collect<T>(rx: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of rx) out.push(x);
  return out;
}

/** Real time passes (stream callbacks, timers) while this task waits. */
const pause = (ms: number): Promise<void> => sleep(ms);

describe("fromReadable", () => {
  test("delivers every chunk in order, then EndOfChannel; leaves no listener behind", () =>
    qrun(async () => {
      const src = Readable.from([1, 2, 3, 4, 5]);
      const rx = fromReadable<number>(src, { maxBufferSize: 2 });
      expect(await collect(rx)).toEqual([1, 2, 3, 4, 5]);
      expect(await rejection(rx.receive())).toBeInstanceOf(EndOfChannel);
      await settleMacrotasks();
      expect(listeners(src)).toEqual(NONE);
      rx.close();
    }));

  test("a byte stream arrives as chunks", () =>
    qrun(async () => {
      const src = Readable.from([Buffer.from("hello "), Buffer.from("world")], { objectMode: false });
      using rx = fromReadable<Buffer>(src);
      expect(Buffer.concat(await collect(rx)).toString()).toBe("hello world");
    }));

  for (const size of [0, 4]) {
    test(`backpressure: a slow consumer stops the source (counting source, buffer ${size})`, () =>
      qrun(async () => {
        const hwm = 2;
        const { src, produced, destroyed } = countingSource(hwm);
        const rx = fromReadable<number>(src, { maxBufferSize: size });
        for (let i = 0; i < 3; i++) expect(await rx.receive()).toBe(i);
        await pause(20);
        const n = produced();
        // Received + the channel's buffer + one chunk in hand + the stream's own buffer (+1 in flight).
        expect(n).toBeLessThanOrEqual(3 + size + 1 + hwm + 1);
        await pause(20);
        expect(produced()).toBe(n); // it stays stopped
        expect(rx.statistics().currentBufferUsed).toBe(size);
        // Consuming more lets it go on, in order.
        for (let i = 3; i < 20; i++) expect(await rx.receive()).toBe(i);
        rx.close();
        await settleMacrotasks();
        expect(destroyed()).toBe(true);
        expect(listeners(src)).toEqual(NONE);
        const after = produced();
        await pause(10);
        expect(produced()).toBe(after);
      }));
  }

  test("the stream's error comes out of receive(), after the chunks before it", () =>
    qrun(async () => {
      const boom = new RangeError("disk on fire");
      let i = 0;
      const src = new Readable({
        objectMode: true,
        read() {
          if (i < 2) this.push(i++);
          else this.destroy(boom);
        },
      });
      const rx = fromReadable<number>(src, { maxBufferSize: 0 });
      expect(await rx.receive()).toBe(0);
      expect(await rx.receive()).toBe(1);
      expect(await rejection(rx.receive())).toBe(boom);
      expect(await rejection(rx.receive())).toBe(boom); // and again: the channel stays failed
      await settleMacrotasks();
      expect(listeners(src)).toEqual(NONE);
      rx.close();
    }));

  test("a stream destroyed by someone else ends the channel with a premature-close error", () =>
    qrun(async () => {
      const { src } = countingSource();
      const rx = fromReadable<number>(src);
      expect(await rx.receive()).toBe(0);
      src.destroy();
      // A chunk already read from the stream is still delivered; then the premature end is reported.
      let e: unknown;
      let extra = 0;
      for (;;) {
        try {
          await rx.receive();
          extra++;
        } catch (err) {
          e = err;
          break;
        }
      }
      expect(extra).toBeLessThanOrEqual(1);
      expect((e as { code?: string }).code).toBe("ERR_STREAM_PREMATURE_CLOSE");
      rx.close();
      await settleMacrotasks();
      expect(listeners(src)).toEqual(NONE);
    }));

  test("closing the receive side (every clone) destroys the source", () =>
    qrun(async () => {
      const { src, destroyed } = countingSource();
      const rx = fromReadable<number>(src, { maxBufferSize: 2 });
      const rx2 = rx.clone();
      expect(await rx.receive()).toBe(0);
      rx.close();
      await pause(5);
      expect(destroyed()).toBe(false);
      expect(await rx2.receive()).toBe(1);
      rx2.close();
      await settleMacrotasks();
      expect(destroyed()).toBe(true);
      expect(src.destroyed).toBe(true);
      expect(listeners(src)).toEqual(NONE);
    }));

  test("a consumer's timeout disposes the channel (using) and so destroys the source", () =>
    qrun(async () => {
      const src = new Readable({ objectMode: true, read() {} }); // never produces
      await moveOnAfter(10, async () => {
        using rx = fromReadable(src);
        await rx.receive();
      });
      await settleMacrotasks();
      expect(src.destroyed).toBe(true);
      expect(listeners(src)).toEqual(NONE);
    }));

  test("a per-item timeout around receive() does not disturb the stream", () =>
    qrun(async () => {
      const src = new Readable({ objectMode: true, read() {} });
      let n = 0;
      const timer = setInterval(() => {
        src.push(n++);
        if (n === 4) {
          clearInterval(timer);
          src.push(null);
        }
      }, 15);
      using rx = fromReadable<number>(src);
      const got: number[] = [];
      let timeouts = 0;
      for (;;) {
        let ended = false;
        const v = await moveOnAfter(5, async () => {
          try {
            return await rx.receive();
          } catch (e) {
            if (e instanceof EndOfChannel) ended = true;
            else throw e;
          }
        });
        if (ended) break;
        if (v === undefined) timeouts++;
        else got.push(v);
      }
      expect(got).toEqual([0, 1, 2, 3]);
      expect(timeouts).toBeGreaterThan(0);
    }));

  test("a pending read counts as foreign work: no false deadlock report on an autojump clock", () =>
    autojump(async () => {
      const src = new Readable({ objectMode: true, read() {} });
      const timer = setTimeout(() => src.push("late"), 400); // longer than the detector's grace
      using rx = fromReadable<string>(src);
      expect(currentStatistics().foreignWaits).toBe(1); // waiting for the stream
      expect(await rx.receive()).toBe("late");
      expect(currentTime()).toBe(0);
      clearTimeout(timer);
      rx.close();
      expect(currentStatistics().foreignWaits).toBe(0);
    }));

  test("bad arguments", () => {
    expect(() => fromReadable({} as never)).toThrow(/fromReadable: readable must be a Node stream.Readable, got an object/);
    const src = Readable.from([]);
    expect(() => fromReadable(src, { maxBufferSize: 1.5 })).toThrow(TypeError);
    expect(() => fromReadable(src, { maxBufferSize: -1 })).toThrow(/opts.maxBufferSize must be >= 0, got -1/);
    expect(() => fromReadable(src, 3 as never)).toThrow(/opts must be an object/);
    src.destroy();
  });
});

describe("toWritable", () => {
  test("pipeline into a channel: writes are sends, end() closes the send side", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<number>(2);
      let got: number[] = [];
      await openNursery(async (n) => {
        n.startSoon(() => cancellable((signal) => pipeline(Readable.from([1, 2, 3, 4, 5, 6]), toWritable(tx), { signal })));
        got = await collect(rx);
      });
      expect(got).toEqual([1, 2, 3, 4, 5, 6]);
      expect(rx.statistics().openSendChannels).toBe(0);
    }));

  test("backpressure: a full channel holds the writer back (counting source)", () =>
    qrun(async () => {
      const { src, produced } = countingSource(1);
      const [tx, rx] = openMemoryChannel<number>(2);
      await openNursery(async (n) => {
        n.startSoon(async () => {
          const err = await rejection(cancellable((signal) => pipeline(src, toWritable(tx), { signal })));
          expect(err).toBeInstanceOf(BrokenResourceError);
        });
        for (let i = 0; i < 3; i++) expect(await rx.receive()).toBe(i);
        await pause(20);
        const n1 = produced();
        expect(n1).toBeLessThanOrEqual(3 + 2 + 1 + 1 + 1 + 2);
        await pause(20);
        expect(produced()).toBe(n1);
        for (let i = 3; i < 10; i++) expect(await rx.receive()).toBe(i);
        rx.close(); // the pending write fails: the pipeline ends with BrokenResourceError
      });
      await settleMacrotasks();
      expect(src.destroyed).toBe(true);
    }));

  test("once the receive side is closed, writes fail with BrokenResourceError", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<string>(1);
      const w = toWritable(tx);
      const errors: unknown[] = [];
      w.on("error", (e) => errors.push(e));
      await new Promise<void>((resolve, reject) => w.write("a", (e) => (e ? reject(e) : resolve())));
      expect(rx.receiveNowait()).toBe("a");
      rx.close();
      const err = await new Promise((resolve) => w.write("b", resolve));
      expect(err).toBeInstanceOf(BrokenResourceError);
      await settleMacrotasks();
      expect(errors).toHaveLength(1);
      expect(w.destroyed).toBe(true);
      expect(tx.statistics().openSendChannels).toBe(0);
    }));

  test("destroy() withdraws a pending write and closes the send side", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<string>(0);
      const w = toWritable(tx);
      w.on("error", () => undefined);
      w.write("never received");
      await settleMacrotasks();
      expect(tx.statistics().tasksWaitingSend).toBe(1);
      w.destroy();
      await settleMacrotasks();
      expect(tx.statistics()).toMatchObject({ tasksWaitingSend: 0, openSendChannels: 0 });
      expect(await rejection(rx.receive())).toBeInstanceOf(EndOfChannel);
    }));

  test("a write waits for a rendezvous receiver, FIFO with task senders", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<string>(0);
      const w = toWritable(tx.clone());
      const order: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await tx.send("task 1");
        });
        await sleep(1);
        const written = new Promise<void>((resolve) => w.write("writable", () => resolve()));
        await settleMacrotasks();
        n.startSoon(async () => {
          await tx.send("task 2");
        });
        await sleep(1);
        for (let i = 0; i < 3; i++) order.push(await rx.receive());
        await written;
        tx.close();
        w.end();
      });
      expect(order).toEqual(["task 1", "writable", "task 2"]);
      expect(await rejection(rx.receive())).toBeInstanceOf(EndOfChannel);
    }));

  test("bad arguments", () => {
    expect(() => toWritable({} as never)).toThrow(/toWritable: send must be a MemorySendChannel, got an object/);
  });

  test("writing to a closed send handle fails with ClosedResourceError", () =>
    qrun(async () => {
      const [tx, rx] = openMemoryChannel<string>(1);
      const w = toWritable(tx);
      w.on("error", () => undefined);
      tx.close();
      const err = await new Promise((resolve) => w.write("x", resolve));
      expect(err).toBeInstanceOf(ClosedResourceError);
      rx.close();
      await settleMacrotasks();
    }));
});

// Keep the import used for typing the helpers.
export type _W = Writable;
