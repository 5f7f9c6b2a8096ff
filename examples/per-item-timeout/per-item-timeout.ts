// A producer that yields at irregular intervals and a consumer that wants to say "no message for 1 s"
// whenever a gap is too long, without losing an item or killing the producer. Three consumers of the
// same producer: the naive one (a timeout around `it.next()`, which kills the generator), and the two
// fixes (`asSafeChannel`; a producer task feeding a bounded channel). Each one logs what happens, with
// times relative to its start, so `main.ts` can print it on real time and the test can compare it
// exactly on a virtual clock.
import { asSafeChannel, openMemoryChannel, withSafeChannel } from "@quartet/channels";
import { currentTime, EndOfChannel, isCancelled, moveOnAfter, openNursery, sleep } from "@quartet/core";

/** The gaps (ms) before each message: mostly short, two of them longer than the consumer's timeout. */
export const GAPS: readonly number[] = [100, 150, 1200, 100, 2100, 50];
/** The consumer's per-item timeout (ms). */
export const TIMEOUT = 1000;

/** Receives one line of the story at a time (main prints it, the test records it). */
export type Log = (line: string) => void;

/** A log whose lines start with the time since it was created, on the runtime's clock. */
export function timedLog(sink: (entry: { t: number; line: string }) => void): Log {
  const start = currentTime();
  return (line) => sink({ t: Math.round(currentTime() - start), line });
}

/**
 * The producer: message `i` comes `gaps[i]` ms after the consumer asked for it. It logs its own end,
 * so a producer killed by somebody else's timeout shows up.
 */
export async function* messages(gaps: readonly number[], log: Log): AsyncGenerator<number> {
  try {
    for (let i = 0; i < gaps.length; i++) {
      await sleep(gaps[i]!);
      yield i;
    }
    log("producer: done, every message sent");
  } catch (e) {
    if (isCancelled(e)) log("producer: CANCELLED inside the generator (killed by the consumer's timeout)");
    throw e;
  }
}

/** How long the timeout is, as the consumer says it ("1 s", "250 ms"). */
function span(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * WRONG: a timeout around `it.next()`. The step runs the generator's body inside the timeout's scope,
 * so when the timeout fires during a long gap, the `Cancelled` lands in the generator's `sleep` and
 * the generator is finished: every later message is lost.
 */
export async function naiveConsumer(gaps: readonly number[], timeoutMs: number, log: Log): Promise<number[]> {
  const got: number[] = [];
  const it = messages(gaps, log);
  for (;;) {
    const r = await moveOnAfter(timeoutMs, () => it.next()); // the guard reports this line
    if (r === undefined) {
      log(`consumer: no message for ${span(timeoutMs)}`);
      continue;
    }
    if (r.done) {
      const lost = gaps.length - got.length;
      log(`consumer: the stream ended after ${got.length} messages; ${lost} never arrived`);
      return got;
    }
    got.push(r.value);
    log(`consumer: message ${r.value}`);
  }
}

/** The generator, run by `asSafeChannel` in a task of its own. */
const safeMessages = asSafeChannel(messages);

/**
 * RIGHT: `asSafeChannel` runs the generator in its own task and hands each message over a rendezvous
 * channel, so the timeout around `receive()` cancels only the wait. The generator is resumed only while
 * a `receive()` is waiting: nothing is read ahead.
 */
export async function safeChannelConsumer(gaps: readonly number[], timeoutMs: number, log: Log): Promise<number[]> {
  return withSafeChannel(safeMessages(gaps, log), async (rx) => {
    const got: number[] = [];
    for (;;) {
      let value: number | undefined;
      try {
        value = await moveOnAfter(timeoutMs, () => rx.receive()); // cancels the wait, not the generator
      } catch (e) {
        if (e instanceof EndOfChannel) break; // the generator returned
        throw e;
      }
      if (value === undefined) {
        log(`consumer: no message for ${span(timeoutMs)}`);
        continue;
      }
      got.push(value);
      log(`consumer: message ${value}`);
    }
    log(`consumer: the stream ended after ${got.length} messages`);
    return got;
  });
}

/**
 * ALSO RIGHT: a producer task consumes the generator with a plain `for await` (one scope, never
 * timed out) and sends into a bounded channel; the consumer's timeout is around `receive()`. Unlike
 * `asSafeChannel`, the producer runs ahead of the consumer by up to `bufferSize` messages.
 */
export async function producerTaskConsumer(
  gaps: readonly number[],
  timeoutMs: number,
  log: Log,
  bufferSize = 4,
): Promise<number[]> {
  const [tx, rx] = openMemoryChannel<number>(bufferSize);
  const got: number[] = [];
  await openNursery(async (n) => {
    n.startSoon(async () => {
      using send = tx; // closing it ends the consumer's loop with EndOfChannel
      for await (const m of messages(gaps, log)) await send.send(m);
    }, { name: "producer" });

    using receive = rx;
    for (;;) {
      let value: number | undefined;
      try {
        value = await moveOnAfter(timeoutMs, () => receive.receive());
      } catch (e) {
        if (e instanceof EndOfChannel) break; // the producer closed its side
        throw e;
      }
      if (value === undefined) {
        log(`consumer: no message for ${span(timeoutMs)}`);
        continue;
      }
      got.push(value);
      log(`consumer: message ${value}`);
    }
    log(`consumer: the stream ended after ${got.length} messages`);
  });
  return got;
}
