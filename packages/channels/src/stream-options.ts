/**
 * Arguments shared by the stream adapters (Node and WHATWG). Internal, except `FromStreamOptions`.
 */
import { MemorySendChannel } from "./memory-channel.js";
import { describe, requireBufferSize, requireOptions } from "./validate.js";

/** Options of `fromReadable` and `fromReadableStream`. */
export interface FromStreamOptions {
  /**
   * The channel's buffer, in chunks: an integer ≥ 0 or `Infinity` (default 0: a chunk is read only
   * when the previous one has been received).
   */
  maxBufferSize?: number;
}

/** @internal Validates the options shared by both `from…` adapters; returns the buffer size. */
export function bufferSizeOption(where: string, opts: FromStreamOptions | undefined): number {
  requireOptions(where, "opts", opts);
  const size = opts?.maxBufferSize ?? 0;
  requireBufferSize(where, "opts.maxBufferSize", size);
  return size;
}

/** @internal Checks a send-channel argument. */
export function requireSendChannel(where: string, send: unknown): asserts send is MemorySendChannel<unknown> {
  if (!(send instanceof MemorySendChannel)) {
    throw new TypeError(`${where}: send must be a MemorySendChannel, got ${describe(send)}`);
  }
}

