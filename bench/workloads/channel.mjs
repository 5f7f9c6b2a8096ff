// W2: 1 -> 1 hand-off of integers through a channel with buffer 0, 16 and Infinity. Producer and
// consumer both await every operation (a Quartet send/receive is a checkpoint).
import { AsyncLocalStorage } from "node:async_hooks";
import { openNursery, run } from "@quartet/core";
import { openMemoryChannel } from "@quartet/channels";
import { HandoffQueue } from "../lib/handoff-queue.mjs";
import { median } from "../lib/measure.mjs";

// Peers are loaded only in the processes that measure them (child.mjs calls loadPeers), so the
// Quartet and raw processes do not pay for loading Effect and Effection.
let Effect, Queue, effection, pushable;
export async function loadPeers() {
  ({ Effect, Queue } = await import("effect"));
  effection = await import("effection");
  ({ pushable } = await import("it-pushable"));
}

const ITEMS = 1_000_000;

/** ns per item, median of `reps` runs of `items` items (after one warm-up). */
async function nsPerItem(once, items = ITEMS, reps = 3) {
  await once(Math.min(items, 100_000));
  const xs = [];
  for (let i = 0; i < reps; i++) {
    globalThis.gc?.();
    const t = performance.now();
    await once(items);
    xs.push(((performance.now() - t) * 1e6) / items);
  }
  return median(xs);
}

function quartet(size) {
  return () =>
    run(() =>
      nsPerItem(async (items) => {
        const [tx, rx] = openMemoryChannel(size);
        await openNursery(async (n) => {
          n.startSoon(async () => {
            for (let i = 0; i < items; i++) await tx.send(i);
            tx.close();
          });
          let sum = 0;
          for (let i = 0; i < items; i++) sum += await rx.receive();
          if (sum !== (items * (items - 1)) / 2) throw new Error("lost items");
        });
      }),
    );
}

function raw(size) {
  return () =>
    nsPerItem(async (items) => {
      const q = new HandoffQueue(size);
      const producer = (async () => {
        for (let i = 0; i < items; i++) await q.put(i);
      })();
      let sum = 0;
      for (let i = 0; i < items; i++) sum += await q.take();
      await producer;
      if (sum !== (items * (items - 1)) / 2) throw new Error("lost items");
    });
}

function readableStream(hwm) {
  return () =>
    nsPerItem(async (items) => {
      let next = 0;
      const stream = new ReadableStream(
        {
          pull(controller) {
            controller.enqueue(next++);
            if (next === items) controller.close();
          },
        },
        { highWaterMark: hwm },
      );
      const reader = stream.getReader();
      let sum = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        sum += value;
      }
      if (sum !== (items * (items - 1)) / 2) throw new Error("lost items");
    });
}

function effectQueue(size) {
  return () =>
    nsPerItem((items) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const q = size === Infinity ? yield* Queue.unbounded() : yield* Queue.bounded(size);
          yield* Effect.forkChild(
            Effect.gen(function* () {
              for (let i = 0; i < items; i++) yield* Queue.offer(q, i);
            }),
          );
          let sum = 0;
          for (let i = 0; i < items; i++) sum += yield* Queue.take(q);
          if (sum !== (items * (items - 1)) / 2) throw new Error("lost items");
        }),
      ),
    );
}

function make(size) {
  const label = size === Infinity ? "inf" : String(size);
  const contenders = {
    quartet: { kind: "quartet", label: `quartet openMemoryChannel(${label}) send/receive`, run: quartet(size) },
    raw: { kind: "raw", label: `raw hand-off queue, capacity ${label}`, run: raw(size) },
    "raw-als": {
      kind: "reference",
      label: `raw hand-off queue, capacity ${label}, inside AsyncLocalStorage.run (the context floor)`,
      run: () => new AsyncLocalStorage().run({}, raw(size)),
    },
    "readable-stream": {
      kind: "peer",
      label: `WHATWG ReadableStream hwm ${label}, pull`,
      run: readableStream(size === Infinity ? 16 : size),
    },
  };
  if (size !== 0) contenders.effect = { kind: "peer", label: `effect@4 Queue.${size === Infinity ? "unbounded" : `bounded(${size})`} offer/take`, run: effectQueue(size) };
  if (size === Infinity) {
    contenders["it-pushable"] = {
      kind: "peer",
      label: "it-pushable (objectMode), producer awaits 1 microtask per item",
      run: () =>
        nsPerItem(async (items) => {
          const p = pushable({ objectMode: true });
          const producer = (async () => {
            for (let i = 0; i < items; i++) {
              p.push(i);
              await null;
            }
            p.end();
          })();
          let sum = 0;
          for await (const v of p) sum += v;
          await producer;
          if (sum !== (items * (items - 1)) / 2) throw new Error("lost items");
        }),
    };
    contenders.effection = {
      kind: "peer",
      label: "effection@4 createQueue, producer adds all without yielding, next() (20k items)",
      run: () =>
        nsPerItem(
          (items) =>
            effection.run(function* () {
              const q = effection.createQueue();
              yield* effection.spawn(function* () {
                for (let i = 0; i < items; i++) q.add(i);
              });
              let sum = 0;
              for (let i = 0; i < items; i++) sum += (yield* q.next()).value;
              if (sum !== (items * (items - 1)) / 2) throw new Error("lost items");
            }),
          20_000,
          1,
        ),
    };
  }
  return {
    id: `channel-${label}`,
    title: `W2 channel 1->1 hand-off of ${ITEMS.toLocaleString("en")} integers, buffer ${label === "inf" ? "Infinity" : label}`,
    unit: "ns/item",
    better: "lower",
    contenders,
  };
}

export const workloads = [make(0), make(16), make(Infinity)];
