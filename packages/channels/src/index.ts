/**
 * @quartet/channels: memory channels with backpressure and atomic cancellation, `asSafeChannel` for
 * async generators, and adapters between channels and Node / WHATWG streams. Built on the public API
 * of `@quartet/core` only.
 *
 * @example
 * ```ts
 * import { openMemoryChannel } from "@quartet/channels";
 * import { openNursery, moveOnAfter } from "@quartet/core";
 *
 * const [tx, rx] = openMemoryChannel<number>(16);
 * await openNursery(async (n) => {
 *   n.startSoon(async () => { using _ = tx; for (let i = 0; i < 10; i++) await tx.send(i); });
 *   for await (const x of rx) console.log(x);
 * });
 * ```
 * @module @quartet/channels
 */
export {
  openMemoryChannel,
  MemorySendChannel,
  MemoryReceiveChannel,
  type MemoryChannelStatistics,
} from "./memory-channel.js";
export { asSafeChannel, withSafeChannel, SafeChannel } from "./safe-channel.js";
export { fromReadable, toWritable } from "./node-streams.js";
export { fromReadableStream, toWritableStream } from "./web-streams.js";
export type { FromStreamOptions } from "./stream-options.js";
