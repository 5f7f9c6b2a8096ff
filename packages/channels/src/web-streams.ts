/**
 * Adapters between memory channels and WHATWG streams (`ReadableStream`, `WritableStream`), on the same
 * foreign-sender design as the Node adapters: no task, a read is issued only once the previous chunk
 * was accepted by the channel, and a pending read counts as outstanding foreign work.
 */
import type { ReadableStreamReadResult } from "node:stream/web";
import { ForeignWork } from "@quartet/core/lowlevel";
import {
  closeSendWithError,
  onReceiveClosed,
  openMemoryChannel,
  sendForeign,
  withdrawForeign,
  type ForeignSender,
  type MemoryReceiveChannel,
  type MemorySendChannel,
} from "./memory-channel.js";
import { bufferSizeOption, requireSendChannel, type FromStreamOptions } from "./stream-options.js";
import { describe } from "./validate.js";

function noop(): void {}

/** Reads a `ReadableStream` into a channel, one `read()` per accepted chunk. */
class StreamPump<T> {
  private readonly work = new ForeignWork();
  private readonly reader: ReadableStreamDefaultReader<T>;
  private pending: ForeignSender | null = null;
  private stopped = false;

  private readonly onRead = (r: ReadableStreamReadResult<T>): void => {
    this.work.release();
    if (this.stopped) return;
    if (r.done) {
      this.stopped = true;
      this.tx.close();
      this.reader.releaseLock();
      return;
    }
    try {
      this.pending = sendForeign(this.tx, r.value, this.onSent);
    } catch {
      return; // BrokenResourceError: the receive side closed; its hook cancels the stream
    }
    if (this.pending === null) this.read();
  };
  private readonly onReadError = (e: unknown): void => {
    this.work.release();
    if (this.stopped) return;
    this.stopped = true;
    closeSendWithError(this.tx, e);
    this.reader.releaseLock();
  };
  private readonly onSent = (error: unknown): void => {
    this.pending = null;
    if (error === undefined && !this.stopped) this.read();
  };

  constructor(
    stream: ReadableStream<T>,
    private readonly tx: MemorySendChannel<T>,
  ) {
    this.reader = stream.getReader();
    onReceiveClosed(tx._state, () => this.cancel());
    this.read();
  }

  private read(): void {
    this.work.hold();
    this.reader.read().then(this.onRead, this.onReadError);
  }

  /** The receive side closed: cancel the stream (a pending read then resolves as done, ignored). */
  private cancel(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.work.release();
    if (this.pending !== null) withdrawForeign(this.pending);
    this.pending = null;
    this.tx.close();
    this.reader.cancel().then(noop, noop);
  }
}

/**
 * Reads a WHATWG `ReadableStream` into a new channel and returns its receive side. The next chunk is
 * read only once the channel accepted the previous one (backpressure reaches the stream's source through
 * its queue); the stream's end becomes `EndOfChannel`, its error is raised by `receive()`, and closing
 * the returned channel (every clone) cancels the stream.
 *
 * @example
 * ```ts
 * const res = await cancellable((signal) => fetch(url, { signal }));
 * using rx = fromReadableStream(res.body!, { maxBufferSize: 2 });
 * for await (const bytes of rx) await write(bytes);
 * ```
 */
export function fromReadableStream<T = unknown>(stream: ReadableStream<T>, opts?: FromStreamOptions): MemoryReceiveChannel<T> {
  if (stream === null || typeof stream !== "object" || typeof (stream as ReadableStream<T>).getReader !== "function") {
    throw new TypeError(`fromReadableStream: stream must be a ReadableStream, got ${describe(stream)}`);
  }
  const size = bufferSizeOption("fromReadableStream", opts);
  const [tx, rx] = openMemoryChannel<T>(size);
  new StreamPump<T>(stream, tx);
  return rx;
}

/**
 * A WHATWG `WritableStream` whose writes are sends on `send`: a write resolves when the channel accepts
 * the chunk, so a full channel holds the writer back (`writer.ready` waits). `close()` and `abort()`
 * close `send`; once every receive handle is closed, writes fail with `BrokenResourceError`. The stream
 * takes over `send`: pass a clone if you keep using it.
 *
 * @example
 * ```ts
 * const [tx, rx] = openMemoryChannel<Uint8Array>(4);
 * n.startSoon(() => cancellable((signal) => response.body!.pipeTo(toWritableStream(tx), { signal })));
 * for await (const bytes of rx) await handle(bytes);
 * ```
 */
export function toWritableStream<T>(send: MemorySendChannel<T>): WritableStream<T> {
  requireSendChannel("toWritableStream", send);
  const work = new ForeignWork();
  let pending: ForeignSender | null = null;
  let rejectPending: ((e: unknown) => void) | null = null;
  let done = false;
  let signal: AbortSignal | null = null;
  const onAbort = (): void => {
    // A write may be waiting for room; abort() would otherwise wait for it forever.
    if (pending !== null) withdrawForeign(pending);
    pending = null;
    const reject = rejectPending;
    rejectPending = null;
    finish();
    reject?.(signal!.reason);
  };
  const finish = (): void => {
    if (done) return;
    done = true;
    work.release();
    unhook();
    signal?.removeEventListener("abort", onAbort);
    send.close();
  };
  work.hold();
  const unhook = onReceiveClosed(send._state, () => work.release());
  return new WritableStream<T>(
    {
      start(controller) {
        // `controller.signal` (Node ≥ 17) aborts as soon as abort() is called, before in-flight writes end.
        signal = (controller as WritableStreamDefaultController & { signal: AbortSignal }).signal;
        signal.addEventListener("abort", onAbort);
      },
      write(chunk) {
        return new Promise<void>((resolve, reject) => {
          let n: ForeignSender | null;
          try {
            n = sendForeign(send, chunk, (error) => {
              pending = null;
              rejectPending = null;
              if (error === undefined) {
                if (!done && send._state.openReceive > 0) work.hold();
                resolve();
              } else {
                // A failed write errors the stream, which calls neither close() nor abort().
                finish();
                reject(error);
              }
            });
          } catch (e) {
            finish();
            reject(e);
            return;
          }
          if (n === null) {
            resolve();
            return;
          }
          pending = n;
          rejectPending = reject;
          work.release();
        });
      },
      close() {
        finish();
      },
      abort() {
        finish();
      },
    },
    { highWaterMark: 1 },
  );
}
