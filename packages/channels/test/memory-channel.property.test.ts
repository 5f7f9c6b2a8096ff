// Property test: random interleavings of senders, receivers, clones, closes and cancellations on
// buffer sizes 0, 1, 3 and Infinity. Invariants: every item is received exactly once, or was rejected
// to its sender, or was discarded by the last receive handle's close (Trio §2.4); each sender's items
// arrive in order; statistics agree with what the test knows after every step; nothing stays parked.
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import {
  BrokenResourceError,
  CancelScope,
  ClosedResourceError,
  EndOfChannel,
  WouldBlock,
  openNursery,
  type Nursery,
} from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { openMemoryChannel, type MemoryChannelStatistics, type MemoryReceiveChannel, type MemorySendChannel } from "@quartet/channels";
import { installLeakCheck, qrun } from "./helpers.js";

installLeakCheck();

type Op =
  | { t: "send"; sender: number; h: number }
  | { t: "sendNowait"; h: number }
  | { t: "recv"; h: number }
  | { t: "recvNowait"; h: number }
  | { t: "cloneSend"; h: number }
  | { t: "cloneRecv"; h: number }
  | { t: "closeSend"; h: number }
  | { t: "closeRecv"; h: number }
  | { t: "cancel"; k: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant("send" as const), sender: fc.nat(2), h: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("sendNowait" as const), h: fc.nat(3) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("recv" as const), h: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("recvNowait" as const), h: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cloneSend" as const), h: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cloneRecv" as const), h: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("closeSend" as const), h: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("closeRecv" as const), h: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("cancel" as const), k: fc.nat(7) }) },
);

interface Item {
  sender: number; // 3 = the main task's sendNowait
  seq: number;
}

interface Received {
  item: Item;
  /** Logical time the receive was called, and when its result was recorded. */
  called: number;
  recorded: number;
}

interface Pending {
  kind: "send" | "recv";
  scope: CancelScope;
}

async function scenario(size: number, ops: Op[]): Promise<void> {
  const [s0, r0] = openMemoryChannel<Item>(size);
  const sendHandles: MemorySendChannel<Item>[] = [s0];
  const recvHandles: MemoryReceiveChannel<Item>[] = [r0];
  const sendOpen = [true];
  const recvOpen = [true];
  let clock = 0;
  const nextSeq = [0, 0, 0, 0];
  const senderBusy = [false, false, false];
  const accepted: Item[] = [];
  const rejected: Item[] = [];
  const received: Received[] = [];
  let discarded = 0;
  const pending = new Set<Pending>();
  let lastPeak = 0;

  const pick = <T>(list: T[], h: number): T => list[h % list.length]!;

  function checkStats(st: MemoryChannelStatistics): void {
    const waitingSend = [...pending].filter((p) => p.kind === "send").length;
    const waitingRecv = pending.size - waitingSend;
    expect(st.maxBufferSize).toBe(size);
    expect(st.tasksWaitingSend).toBe(waitingSend);
    expect(st.tasksWaitingReceive).toBe(waitingRecv);
    expect(st.openSendChannels).toBe(sendOpen.filter(Boolean).length);
    expect(st.openReceiveChannels).toBe(recvOpen.filter(Boolean).length);
    expect(st.currentBufferUsed).toBeLessThanOrEqual(size);
    if (st.tasksWaitingReceive > 0) {
      expect(st.currentBufferUsed).toBe(0);
      expect(st.tasksWaitingSend).toBe(0);
    }
    if (st.tasksWaitingSend > 0) expect(st.currentBufferUsed).toBe(size);
    expect(st.peakBufferUsed).toBeGreaterThanOrEqual(Math.max(st.currentBufferUsed, lastPeak));
    expect(st.peakBufferUsed).toBeLessThanOrEqual(size);
    lastPeak = st.peakBufferUsed;
    // Everything accepted is either received, discarded by a receive close, or still buffered.
    expect(accepted.length - received.length - discarded).toBe(st.currentBufferUsed);
  }

  function spawn(n: Nursery, kind: Pending["kind"], body: () => Promise<void>): void {
    const p: Pending = { kind, scope: new CancelScope() };
    pending.add(p);
    n.startSoon(async () => {
      try {
        await p.scope.run(body);
      } catch (e) {
        // The channel's own answers are outcomes, not failures; anything else fails the test.
        if (!(e instanceof ClosedResourceError || e instanceof BrokenResourceError || e instanceof EndOfChannel)) throw e;
      } finally {
        pending.delete(p);
      }
    });
  }

  function closeRecvHandle(i: number): void {
    if (recvOpen[i] && recvOpen.filter(Boolean).length === 1) discarded += r0.statistics().currentBufferUsed;
    recvHandles[i]!.close();
    recvOpen[i] = false;
  }

  await openNursery(async (n) => {
    for (const op of ops) {
      switch (op.t) {
        case "send": {
          if (senderBusy[op.sender]) break; // one send at a time per sender keeps its order defined
          const h = op.h % sendHandles.length;
          const item: Item = { sender: op.sender, seq: nextSeq[op.sender]!++ };
          senderBusy[op.sender] = true;
          spawn(n, "send", async () => {
            let ok = false;
            try {
              await sendHandles[h]!.send(item);
              ok = true;
            } finally {
              (ok ? accepted : rejected).push(item);
              senderBusy[op.sender] = false;
            }
          });
          break;
        }
        case "sendNowait": {
          const item: Item = { sender: 3, seq: nextSeq[3]!++ };
          try {
            pick(sendHandles, op.h).sendNowait(item);
            accepted.push(item);
          } catch {
            rejected.push(item);
          }
          break;
        }
        case "recv": {
          const rx = pick(recvHandles, op.h);
          spawn(n, "recv", async () => {
            const called = clock++;
            const item = await rx.receive();
            received.push({ item, called, recorded: clock++ });
          });
          break;
        }
        case "recvNowait": {
          try {
            const item = pick(recvHandles, op.h).receiveNowait();
            const t = clock++;
            received.push({ item, called: t, recorded: t });
          } catch (e) {
            if (!(e instanceof WouldBlock || e instanceof EndOfChannel || e instanceof ClosedResourceError)) throw e;
          }
          break;
        }
        case "cloneSend": {
          const i = op.h % sendHandles.length;
          if (!sendOpen[i]) {
            expect(() => sendHandles[i]!.clone()).toThrow();
            break;
          }
          sendHandles.push(sendHandles[i]!.clone());
          sendOpen.push(true);
          break;
        }
        case "cloneRecv": {
          const i = op.h % recvHandles.length;
          if (!recvOpen[i]) {
            expect(() => recvHandles[i]!.clone()).toThrow();
            break;
          }
          recvHandles.push(recvHandles[i]!.clone());
          recvOpen.push(true);
          break;
        }
        case "closeSend": {
          const i = op.h % sendHandles.length;
          sendHandles[i]!.close();
          sendOpen[i] = false;
          break;
        }
        case "closeRecv":
          closeRecvHandle(op.h % recvHandles.length);
          break;
        case "cancel": {
          const list = [...pending];
          if (list.length > 0) list[op.k % list.length]!.scope.cancel();
          break;
        }
      }
      await waitAllTasksBlocked();
      checkStats(r0.statistics());
    }

    // Wind down: cancel what is still waiting, then drain what an open receive handle can still get.
    for (const p of pending) p.scope.cancel();
    await waitAllTasksBlocked();
    expect(pending.size).toBe(0);
    checkStats(r0.statistics());
    for (let i = 0; i < sendHandles.length; i++) {
      sendHandles[i]!.close();
      sendOpen[i] = false;
    }
    const open = recvHandles.findIndex((_, i) => recvOpen[i]);
    if (open >= 0) {
      for (;;) {
        try {
          const item = recvHandles[open]!.receiveNowait();
          const t = clock++;
          received.push({ item, called: t, recorded: t });
        } catch (e) {
          expect(e).toBeInstanceOf(EndOfChannel);
          break;
        }
      }
    }
    for (let i = 0; i < recvHandles.length; i++) closeRecvHandle(i);
  });

  const st = r0.statistics();
  expect(st).toMatchObject({ currentBufferUsed: 0, tasksWaitingSend: 0, tasksWaitingReceive: 0, openSendChannels: 0, openReceiveChannels: 0 });

  // Exactly once: nothing received twice, nothing received that its sender saw rejected.
  const key = (i: Item): string => `${i.sender}:${i.seq}`;
  const receivedKeys = received.map((r) => key(r.item));
  expect(new Set(receivedKeys).size).toBe(receivedKeys.length);
  const acceptedKeys = new Set(accepted.map(key));
  for (const k of receivedKeys) expect(acceptedKeys.has(k)).toBe(true);
  for (const item of rejected) expect(receivedKeys.includes(key(item))).toBe(false);
  expect(accepted.length - received.length).toBe(discarded);
  if (discarded === 0) expect(receivedKeys.sort()).toEqual([...acceptedKeys].sort());

  // Per-sender order: if B got item k and A got a later item k' of the same sender, B cannot have been
  // called after A finished (that would mean k' was taken from the channel before k).
  for (const a of received) {
    for (const b of received) {
      if (a.item.sender === b.item.sender && b.item.seq < a.item.seq) {
        expect(b.called, `sender ${a.item.sender}: item ${b.item.seq} came out after ${a.item.seq}`).toBeLessThan(a.recorded);
      }
    }
  }
}

describe("memory channel properties", () => {
  for (const size of [0, 1, 3, Infinity]) {
    test(`random interleavings, buffer ${size}`, () =>
      fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => qrun(() => scenario(size, ops))),
        { numRuns: 80 },
      ));
  }
});
