/**
 * Adapters between memory channels and Node streams. No task is involved: the stream's callbacks feed
 * the channel as a *foreign sender* that queues FIFO among the channel's parked senders. That keeps
 * backpressure exact: the source is read only while the previous chunk has been accepted (the buffer
 * had room or a receiver took it), so at most the channel's buffer plus one chunk in hand (plus the
 * stream's own `highWaterMark`) is ever read ahead of the consumer.
 *
 * While an adapter waits on the stream (a read is pending, a writer may still write), it holds a
 * `ForeignWork` from core, so an autojump clock's deadlock detector does not report the run as stuck
 * while real I/O is outstanding. It releases it while it waits on the consumer, and for good at the end.
 */
import { Writable, type Readable } from "node:stream";
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

function prematureClose(): Error {
  return Object.assign(new Error("the stream was destroyed before it ended"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}

/** Reads a `Readable` into a channel, one `read()` per accepted chunk. */
class ReadablePump<T> {
  private readonly work = new ForeignWork();
  /** A chunk read but not yet accepted by the channel. */
  private pending: ForeignSender | null = null;
  /** Set once the stream ended or failed (`undefined` error = clean end); acted on when nothing is pending. */
  private ending = false;
  private endError: unknown = undefined;
  /** Set once the channel is closed or the stream finished: no more reads. */
  private stopped = false;

  private readonly onReadable = (): void => this.pump();
  private readonly onEnd = (): void => this.finish(undefined);
  private readonly onError = (e: unknown): void => this.finish(e === undefined ? new Error("stream error") : e);
  private readonly onClose = (): void => {
    if (!this.ending && !this.stopped) this.finish(prematureClose());
    this.detach();
  };
  private readonly onSent = (error: unknown): void => {
    this.pending = null;
    if (error !== undefined) return; // the receive side closed; its hook destroys the stream
    if (this.ending) this.closeChannel();
    else this.pump();
  };

  constructor(
    private readonly readable: Readable,
    private readonly tx: MemorySendChannel<T>,
  ) {
    readable.on("readable", this.onReadable);
    readable.on("end", this.onEnd);
    readable.on("error", this.onError);
    readable.on("close", this.onClose);
    onReceiveClosed(tx._state, () => this.cancel());
    if (readable.readableEnded) this.finish(undefined);
    else if (readable.destroyed) this.finish(readable.errored ?? prematureClose());
    else this.pump();
  }

  private pump(): void {
    while (!this.stopped && !this.ending && this.pending === null) {
      const chunk = this.readable.read() as T | null;
      if (chunk === null) {
        this.work.hold(); // waiting for 'readable' or 'end'
        return;
      }
      try {
        this.pending = sendForeign(this.tx, chunk, this.onSent);
      } catch {
        return; // BrokenResourceError: the receive side closed; its hook destroys the stream
      }
    }
    this.work.release(); // waiting on the consumer, or done
  }

  /** The stream ended (error undefined) or failed: tell the receivers once nothing is pending. */
  private finish(error: unknown): void {
    if (this.ending || this.stopped) return;
    this.ending = true;
    this.endError = error;
    this.work.release();
    this.readable.off("readable", this.onReadable);
    this.readable.off("end", this.onEnd);
    if (this.pending === null) this.closeChannel();
  }

  private closeChannel(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.endError === undefined) this.tx.close();
    else closeSendWithError(this.tx, this.endError);
    if (this.readable.closed) this.detach();
  }

  /** The receive side closed: stop reading and destroy the stream. */
  private cancel(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.work.release();
    if (this.pending !== null) withdrawForeign(this.pending);
    this.pending = null;
    this.readable.off("readable", this.onReadable);
    this.readable.off("end", this.onEnd);
    this.tx.close();
    if (this.readable.closed) this.detach();
    else this.readable.destroy(); // 'close' follows and detaches the rest
  }

  /** Removes the last listeners (kept until 'close', so an error while closing is never unhandled). */
  private detach(): void {
    this.readable.off("readable", this.onReadable);
    this.readable.off("end", this.onEnd);
    this.readable.off("error", this.onError);
    this.readable.off("close", this.onClose);
  }
}

/**
 * Reads a Node `Readable` into a new channel and returns its receive side. The stream is read only
 * while the channel has room, so a slow consumer stops it (backpressure); its end becomes
 * `EndOfChannel` (after the buffered chunks), its error is raised by `receive()`. Closing the
 * returned channel (every clone of it) destroys the stream. No task is started: nothing to wait for.
 *
 * @example
 * ```ts
 * using rx = fromReadable(fs.createReadStream("big.log"), { maxBufferSize: 4 });
 * for await (const chunk of rx) await upload(chunk);   // reads no further ahead than 4 chunks
 * ```
 */
export function fromReadable<T = unknown>(readable: Readable, opts?: FromStreamOptions): MemoryReceiveChannel<T> {
  if (
    readable === null ||
    typeof readable !== "object" ||
    typeof (readable as Readable).read !== "function" ||
    typeof (readable as Readable).on !== "function" ||
    typeof (readable as Readable).destroy !== "function"
  ) {
    throw new TypeError(`fromReadable: readable must be a Node stream.Readable, got ${describe(readable)}`);
  }
  const size = bufferSizeOption("fromReadable", opts);
  const [tx, rx] = openMemoryChannel<T>(size);
  new ReadablePump<T>(readable, tx);
  return rx;
}

/**
 * A Node `Writable` (object mode) whose writes are sends on `send`: a write completes when the channel
 * accepts the chunk, so a full channel holds the writer back (`write()` returns `false`, and `pipe` /
 * `pipeline` wait for `'drain'`). `end()` (and `destroy()`) close `send`; once every receive handle is
 * closed, writes fail with `BrokenResourceError`. The Writable takes over `send`: pass a clone if you
 * keep using it.
 *
 * @example
 * ```ts
 * const [tx, rx] = openMemoryChannel<Buffer>(8);
 * n.startSoon(() => cancellable((signal) => pipeline(source, toWritable(tx), { signal })));
 * for await (const chunk of rx) await handle(chunk);
 * ```
 */
export function toWritable<T>(send: MemorySendChannel<T>): Writable {
  requireSendChannel("toWritable", send);
  const work = new ForeignWork();
  let pending: ForeignSender | null = null;
  let done = false;
  const finish = (): void => {
    done = true;
    work.release();
    unhook();
    send.close();
  };
  // While open, a writer outside Quartet may still write: that is outstanding foreign work.
  work.hold();
  const unhook = onReceiveClosed(send._state, () => work.release());
  return new Writable({
    objectMode: true,
    // The channel is the buffer: a write still waiting for room makes write() return false.
    highWaterMark: 1,
    write(chunk: T, _encoding, callback) {
      let n: ForeignSender | null;
      try {
        n = sendForeign(send, chunk, (error) => {
          pending = null;
          if (!done && send._state.openReceive > 0) work.hold();
          callback(error === undefined ? null : (error as Error));
        });
      } catch (e) {
        callback(e as Error);
        return;
      }
      if (n === null) {
        callback();
        return;
      }
      pending = n;
      work.release(); // waiting on the consumer now
    },
    final(callback) {
      finish();
      callback();
    },
    destroy(error, callback) {
      if (pending !== null) withdrawForeign(pending);
      pending = null;
      finish();
      callback(error);
    },
  });
}
