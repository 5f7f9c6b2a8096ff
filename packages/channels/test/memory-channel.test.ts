// Trio §5 C (memory channels), ported scenario by scenario, plus the checkpoint, disposal and input
// rules of §2.
import { describe, expect, test } from "vitest";
import {
  BrokenResourceError,
  CancelScope,
  Cancelled,
  ClosedResourceError,
  EndOfChannel,
  WouldBlock,
  isCancelled,
  moveOnAfter,
  openNursery,
  sleep,
} from "@quartet/core";
import { waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { openMemoryChannel, type MemoryReceiveChannel, type MemorySendChannel } from "@quartet/channels";
import { autojump, expectCheckpoints, expectNoCheckpoints, installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

async function collect<T>(rx: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of rx) out.push(x);
  return out;
}

describe("§5 C memory channels", () => {
  test("52. basics, size 2 (test_channel)", () =>
    qrun(async () => {
      expect(() => openMemoryChannel(1.5)).toThrow(TypeError);
      expect(() => openMemoryChannel(1.5)).toThrow(/maxBufferSize.*1\.5/);
      expect(() => openMemoryChannel(-1)).toThrow(RangeError);
      expect(() => openMemoryChannel(-1)).toThrow(/maxBufferSize.*-1/);
      const [s, r] = openMemoryChannel<number | null>(2);
      s.sendNowait(1);
      await expectCheckpoints(() => s.send(2));
      expect(() => s.sendNowait(null)).toThrow(WouldBlock);
      expect(await expectCheckpoints(() => r.receive())).toBe(1);
      expect(r.receiveNowait()).toBe(2);
      expect(() => r.receiveNowait()).toThrow(WouldBlock);
    }));

  test("53. send side closed (test_channel)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(2);
      s.sendNowait("last");
      await s.aclose();
      expect(await rejection(s.send("x"))).toBeInstanceOf(ClosedResourceError);
      expect(() => s.sendNowait("x")).toThrow(ClosedResourceError);
      expect(() => s.clone()).toThrow(ClosedResourceError);
      await s.aclose();
      expect(r.receiveNowait()).toBe("last");
      expect(await rejection(r.receive())).toBeInstanceOf(EndOfChannel);
    }));

  test("54. receive side closed", () =>
    qrun(async () => {
      const [, r] = openMemoryChannel<string>(2);
      await r.aclose();
      expect(await rejection(r.receive())).toBeInstanceOf(ClosedResourceError);
      expect(() => r.receiveNowait()).toThrow(ClosedResourceError);
      await r.aclose();
    }));

  test("55. statistics (test_statistics)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(2);
      expect(s.statistics()).toEqual({
        currentBufferUsed: 0,
        maxBufferSize: 2,
        openSendChannels: 1,
        openReceiveChannels: 1,
        tasksWaitingSend: 0,
        tasksWaitingReceive: 0,
        peakBufferUsed: 0,
      });
      s.sendNowait(1);
      expect(r.statistics()).toMatchObject({ currentBufferUsed: 1, peakBufferUsed: 1 });
      const s2 = s.clone();
      expect(s.statistics().openSendChannels).toBe(2);
      await s.aclose();
      expect(s2.statistics().openSendChannels).toBe(1);
      const r2 = r.clone();
      expect(s2.statistics().openReceiveChannels).toBe(2);
      await r2.aclose();
      expect(s2.statistics().openReceiveChannels).toBe(1);
      s2.sendNowait(2);
      expect(s2.statistics()).toMatchObject({ currentBufferUsed: 2, peakBufferUsed: 2 });
      await openNursery(async (n) => {
        n.startSoon(() => s2.send(3));
        n.startSoon(() => s2.send(4));
        await waitAllTasksBlocked();
        expect(s2.statistics().tasksWaitingSend).toBe(2);
        n.cancelScope.cancel();
      });
      expect(s2.statistics().tasksWaitingSend).toBe(0);
      r.receiveNowait();
      r.receiveNowait();
      expect(s2.statistics()).toMatchObject({ currentBufferUsed: 0, peakBufferUsed: 2 });
      await openNursery(async (n) => {
        n.startSoon(() => r.receive());
        await waitAllTasksBlocked();
        expect(s2.statistics().tasksWaitingReceive).toBe(1);
        n.cancelScope.cancel();
      });
      expect(s2.statistics().tasksWaitingReceive).toBe(0);
    }));

  test("56. size 1, sendNowait overflow", () =>
    qrun(async () => {
      const [s] = openMemoryChannel<number>(1);
      s.sendNowait(1);
      expect(() => s.sendNowait(2)).toThrow(WouldBlock);
      expect(s.statistics()).toMatchObject({ currentBufferUsed: 1, tasksWaitingSend: 0, peakBufferUsed: 1 });
    }));

  test("57. rendezvous, size 0 (test_unbuffered)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(0);
      expect(() => s.sendNowait(1)).toThrow(WouldBlock);
      expect(() => r.receiveNowait()).toThrow(WouldBlock);
      await openNursery(async (n) => {
        n.startSoon(() => expectCheckpoints(() => s.send(1)));
        expect(await expectCheckpoints(() => r.receive())).toBe(1);
      });
      expect(() => r.receiveNowait()).toThrow(WouldBlock);
      expect(s.statistics().peakBufferUsed).toBe(0);
    }));

  test("58. infinite buffer (test_inf_capacity)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(Infinity);
      {
        using send = s;
        for (let i = 0; i < 10; i++) send.sendNowait(i);
      }
      expect(await collect(r)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(r.statistics()).toMatchObject({ maxBufferSize: Infinity, peakBufferUsed: 10, openSendChannels: 0 });
    }));

  test("59. FIFO with blocked senders: buffered item, then senders in arrival order", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(1);
      s.sendNowait("buf");
      const returned: string[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await s.send("A");
          returned.push("A");
        });
        await waitAllTasksBlocked();
        n.startSoon(async () => {
          await s.send("B");
          returned.push("B");
        });
        await waitAllTasksBlocked();
        expect(s.statistics().tasksWaitingSend).toBe(2);
        expect([await r.receive(), await r.receive(), await r.receive()]).toEqual(["buf", "A", "B"]);
      });
      expect(returned.sort()).toEqual(["A", "B"]);
    }));

  test("60. FIFO hand-off to parked receivers", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(0);
      const got: Record<string, string> = {};
      await openNursery(async (n) => {
        n.startSoon(async () => {
          got.R1 = await r.receive();
        });
        await waitAllTasksBlocked();
        n.startSoon(async () => {
          got.R2 = await r.receive();
        });
        await waitAllTasksBlocked();
        s.sendNowait("x");
        s.sendNowait("y");
        expect(() => s.sendNowait("z")).toThrow(WouldBlock);
      });
      expect(got).toEqual({ R1: "x", R2: "y" });
    }));

  test("61. receive-side fairness (test_channel_fairness)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(1);
      s.sendNowait(1);
      expect(r.receiveNowait()).toBe(1);
      let got: number | undefined;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          got = await r.receive();
        });
        await waitAllTasksBlocked();
        s.sendNowait(2);
        expect(() => r.receiveNowait()).toThrow(WouldBlock);
      });
      expect(got).toBe(2);
    }));

  test("62. send-side fairness: a freed slot goes to the parked sender", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(1);
      s.sendNowait(1);
      await openNursery(async (n) => {
        n.startSoon(() => s.send(2));
        await waitAllTasksBlocked();
        expect(r.receiveNowait()).toBe(1);
        expect(() => s.sendNowait(3)).toThrow(WouldBlock);
        expect(await r.receive()).toBe(2);
      });
    }));

  test("63. receiveNowait drains a parked sender", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(0);
      let sent = false;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await s.send("v");
          sent = true;
        });
        await waitAllTasksBlocked();
        expect(r.receiveNowait()).toBe("v");
      });
      expect(sent).toBe(true);
    }));

  test("64. a cancelled send loses nothing and leaves nothing behind", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(0);
      const scope = new CancelScope();
      await openNursery(async (n) => {
        n.startSoon(() => scope.run(() => s.send("lost?")));
        await waitAllTasksBlocked();
        scope.cancel();
      });
      expect(scope.cancelledCaught).toBe(true);
      expect(() => r.receiveNowait()).toThrow(WouldBlock);
      expect(s.statistics().tasksWaitingSend).toBe(0);
    }));

  test("65. a cancelled receive, then a send that does not block (test_553)", () =>
    autojump(async () => {
      const [s, r] = openMemoryChannel<string>(1);
      let scope: CancelScope | undefined;
      await moveOnAfter(10, async (sc) => {
        scope = sc;
        await r.receive();
      });
      expect(scope!.cancelledCaught).toBe(true);
      expect(r.statistics().tasksWaitingReceive).toBe(0);
      await s.send("x");
      expect(r.receiveNowait()).toBe("x");
    }));

  test("66. send in an already cancelled scope raises without sending (#1626)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(3);
      let reached = false;
      const scope = new CancelScope();
      await scope.run(async () => {
        scope.cancel();
        expect(await rejection(s.send(1))).toBeInstanceOf(Cancelled);
        expect(s.statistics().currentBufferUsed).toBe(0);
        expect(await rejection(r.receive())).toBeInstanceOf(Cancelled);
        s.sendNowait(1); // the nowait forms are not checkpoints: they work in cancelled code
        expect(r.receiveNowait()).toBe(1);
        s.sendNowait(2);
        expect(await rejection(r.receive())).toBeInstanceOf(Cancelled);
        expect(s.statistics().currentBufferUsed).toBe(1); // the cancelled receive consumed nothing
        reached = true;
      });
      expect(reached).toBe(true);
    }));

  for (const how of ["aclose", "close"] as const) {
    test(`67. closing the send side (${how}) wakes its blocked senders (test_close_basics/_sync)`, () =>
      qrun(async () => {
        const [s, r] = openMemoryChannel<number>(0);
        let err: unknown;
        await openNursery(async (n) => {
          n.startSoon(async () => {
            err = await rejection(s.send(1));
          });
          await waitAllTasksBlocked();
          if (how === "aclose") await s.aclose();
          else s.close();
        });
        expect(err).toBeInstanceOf(ClosedResourceError);
        expect(() => r.receiveNowait()).toThrow(EndOfChannel);
        expect(await rejection(r.receive())).toBeInstanceOf(EndOfChannel);
      }));
  }

  test("68. closing the receive side breaks senders, persistently", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(0);
      let err: unknown;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          err = await rejection(s.send(1));
        });
        await waitAllTasksBlocked();
        r.close();
      });
      expect(err).toBeInstanceOf(BrokenResourceError);
      expect(() => s.sendNowait(2)).toThrow(BrokenResourceError);
      expect(await rejection(s.send(2))).toBeInstanceOf(BrokenResourceError);
      expect(await rejection(s.send(3))).toBeInstanceOf(BrokenResourceError);
    }));

  test("69. closing the receive side wakes its blocked receivers", () =>
    qrun(async () => {
      const [, r] = openMemoryChannel<number>(0);
      let err: unknown;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          err = await rejection(r.receive());
        });
        await waitAllTasksBlocked();
        r.close();
      });
      expect(err).toBeInstanceOf(ClosedResourceError);
      expect(() => r.receiveNowait()).toThrow(ClosedResourceError);
      expect(await rejection(r.receive())).toBeInstanceOf(ClosedResourceError);
    }));

  test("70. closing the receive side discards the buffer", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(5);
      await s.send(1);
      await s.send(2);
      r.close();
      expect(s.statistics()).toMatchObject({ currentBufferUsed: 0, openReceiveChannels: 0, peakBufferUsed: 2 });
      expect(() => s.sendNowait(3)).toThrow(BrokenResourceError);
      expect(() => r.receiveNowait()).toThrow(ClosedResourceError);
    }));

  test("71. closing the send side keeps the buffer", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(5);
      await s.send(1);
      await s.send(2);
      await s.aclose();
      expect(await collect(r)).toEqual([1, 2]);
      expect(await rejection(r.receive())).toBeInstanceOf(EndOfChannel);
    }));

  test("72. receive clones and the refcount (test_receive_channel_clone_and_close)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(Infinity);
      const r2 = r.clone();
      const r3 = r.clone();
      r.close();
      r2.close();
      expect(() => r.clone()).toThrow(ClosedResourceError);
      expect(() => r2.clone()).toThrow(ClosedResourceError);
      s.sendNowait(1); // r3 is still open
      r3.close();
      expect(() => s.sendNowait(2)).toThrow(BrokenResourceError);
    }));

  test("73. closing one send clone (test_close_multiple_send_handles)", () =>
    qrun(async () => {
      const [s1, r] = openMemoryChannel<string>(0);
      const s2 = s1.clone();
      let err: unknown;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          err = await rejection(s1.send("s1"));
        });
        n.startSoon(() => s2.send("ok"));
        await waitAllTasksBlocked();
        await s1.aclose();
        expect(await r.receive()).toBe("ok");
      });
      expect(err).toBeInstanceOf(ClosedResourceError);
    }));

  test("74. closing one receive clone (test_close_multiple_receive_handles)", () =>
    qrun(async () => {
      const [s, r1] = openMemoryChannel<string>(0);
      const r2 = r1.clone();
      let err: unknown;
      let got: string | undefined;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          err = await rejection(r1.receive());
        });
        n.startSoon(async () => {
          got = await r2.receive();
        });
        await waitAllTasksBlocked();
        await r1.aclose();
        await s.send("ok");
      });
      expect(err).toBeInstanceOf(ClosedResourceError);
      expect(got).toBe("ok");
    }));

  test("75. closing a send clone discards only its own parked value", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(0);
      const s2 = s.clone();
      let err: unknown;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          err = await rejection(s.send("mine"));
        });
        await waitAllTasksBlocked();
        s.close();
      });
      expect(err).toBeInstanceOf(ClosedResourceError);
      expect(s2.statistics()).toMatchObject({ openSendChannels: 1, tasksWaitingSend: 0 });
      expect(() => r.receiveNowait()).toThrow(WouldBlock);
    }));

  test("76. multiple producers, each with its own clone (test_channel_multiple_producers)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(0);
      let got: number[] = [];
      await openNursery(async (n) => {
        for (let i = 0; i < 10; i++) {
          const mine = s.clone();
          n.startSoon(async () => {
            await using tx = mine;
            for (let j = 3 * i; j < 3 * i + 3; j++) await tx.send(j);
          });
        }
        s.close();
        got = await collect(r);
      });
      expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    }));

  test("77. multiple consumers share one stream (test_channel_multiple_consumers)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(1);
      const perConsumer: number[][] = [[], [], [], [], []];
      await openNursery(async (n) => {
        for (const mine of perConsumer) {
          n.startSoon(async () => {
            for await (const x of r) {
              mine.push(x);
              await sleep(0);
            }
          });
        }
        for (let i = 0; i < 10; i++) await s.send(i);
        s.close();
      });
      for (const mine of perConsumer) expect(mine.length).toBeGreaterThan(0);
      expect(perConsumer.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }));

  test("78. disposal in a cancelled scope does not swallow the body's error (#746, designed away)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(1);
      const boom = new RangeError("body");
      let reached = false;
      const scope = new CancelScope();
      const err = await rejection(
        scope.run(async () => {
          scope.cancel();
          await using tx = s;
          throw boom;
        }),
      );
      expect(err).toBe(boom);
      expect(scope.cancelledCaught).toBe(false);
      expect(s.statistics().openSendChannels).toBe(0);
      // aclose() keeps Trio's meaning: close, then a full checkpoint (which raises when cancelled).
      const scope2 = new CancelScope();
      await scope2.run(async () => {
        scope2.cancel();
        expect(await rejection(r.aclose())).toBeInstanceOf(Cancelled);
        expect(r.statistics().openReceiveChannels).toBe(0);
        reached = true;
      });
      expect(reached).toBe(true);
    }));
});

describe("§2 details", () => {
  test("a value handed to a parked receiver is committed even if the receiver is cancelled before it runs", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(0);
      const scope = new CancelScope();
      let got: string | undefined;
      let after: unknown;
      await openNursery(async (n) => {
        n.startSoon(() =>
          scope.run(async () => {
            got = await r.receive();
            after = await rejection(sleep(0)); // the next checkpoint raises
          }),
        );
        await waitAllTasksBlocked();
        s.sendNowait("committed");
        scope.cancel();
      });
      expect(got).toBe("committed");
      expect(after).toBeInstanceOf(Cancelled);
      expect(() => r.receiveNowait()).toThrow(WouldBlock);
    }));

  test("a parked sender's value is committed when a receive takes it, even if the sender is then cancelled", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<string>(0);
      const scope = new CancelScope();
      let sendResult: unknown = "pending";
      await openNursery(async (n) => {
        n.startSoon(() =>
          scope.run(async () => {
            await s.send("v");
            sendResult = "returned";
          }),
        );
        await waitAllTasksBlocked();
        expect(r.receiveNowait()).toBe("v");
        scope.cancel();
      });
      expect(sendResult).toBe("returned");
    }));

  test("a fast-path send or receive is not undone by a cancellation that arrives during its schedule point", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(1);
      let reached = 0;
      const scope = new CancelScope();
      await scope.run(async () => {
        const sent = s.send(1); // buffered at once; only the schedule point is left
        scope.cancel();
        await sent;
        expect(s.statistics().currentBufferUsed).toBe(1);
        reached++;
      });
      const scope2 = new CancelScope();
      await scope2.run(async () => {
        const got = r.receive(); // taken at once
        scope2.cancel();
        expect(await got).toBe(1);
        expect(r.statistics().currentBufferUsed).toBe(0);
        reached++;
      });
      expect(reached).toBe(2);
    }));

  test("send/receive/aclose are checkpoints even on the fast path; the nowait forms and close are not", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(4);
      await expectCheckpoints(() => s.send(1));
      expectNoCheckpoints(() => s.sendNowait(2));
      expect(await expectCheckpoints(() => r.receive())).toBe(1);
      expect(expectNoCheckpoints(() => r.receiveNowait())).toBe(2);
      const s2 = s.clone();
      expectNoCheckpoints(() => s2.close());
      await expectCheckpoints(() => s.aclose());
      expectNoCheckpoints(() => r.close());
    }));

  test("for await: every step is a checkpoint, the final empty one included", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(2);
      s.sendNowait(1);
      s.close();
      const it = r[Symbol.asyncIterator]();
      expect(await expectCheckpoints(() => it.next())).toEqual({ value: 1, done: false });
      expect(await expectCheckpoints(() => it.next())).toEqual({ value: undefined, done: true });
    }));

  test("for await propagates ClosedResourceError, and leaving the loop early does not close the channel", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(Infinity);
      for (let i = 0; i < 5; i++) s.sendNowait(i);
      for await (const x of r) if (x === 1) break;
      expect(r.receiveNowait()).toBe(2);
      r.close();
      expect(await rejection(collect(r))).toBeInstanceOf(ClosedResourceError);
    }));

  test("sync disposal with `using` closes both sides", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(1);
      {
        using tx = s;
        using rx = r.clone();
        tx.sendNowait(1);
        expect(rx.statistics().openReceiveChannels).toBe(2);
      }
      expect(r.statistics()).toMatchObject({ openSendChannels: 0, openReceiveChannels: 1 });
      r.close();
    }));

  test("EndOfChannel wakes every receiver parked on any clone when the last sender closes", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(0);
      const r2 = r.clone();
      const errs: unknown[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => void errs.push(await rejection(r.receive())));
        n.startSoon(async () => void errs.push(await rejection(r2.receive())));
        await waitAllTasksBlocked();
        const s2 = s.clone();
        s.close();
        expect(r.statistics().tasksWaitingReceive).toBe(2);
        s2.close();
      });
      expect(errs).toHaveLength(2);
      for (const e of errs) expect(e).toBeInstanceOf(EndOfChannel);
    }));

  test("one task may wait in two receives at once (Promise.all)", () =>
    qrun(async () => {
      const [s, r] = openMemoryChannel<number>(0);
      let got: number[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          got = await Promise.all([r.receive(), r.receive()]);
        });
        await waitAllTasksBlocked();
        expect(r.statistics().tasksWaitingReceive).toBe(2);
        s.sendNowait(1);
        s.sendNowait(2);
      });
      expect(got).toEqual([1, 2]);
    }));

  test("the ring buffer keeps FIFO order across wrap-around and growth", () =>
    qrun(async () => {
      for (const size of [3, 8, 13, Infinity]) {
        const [s, r] = openMemoryChannel<number>(size);
        const out: number[] = [];
        let next = 0;
        for (let round = 0; round < 50; round++) {
          const room = size - r.statistics().currentBufferUsed;
          const burst = Math.min(room, (round % 7) + 1 + (size === Infinity ? round : 0));
          for (let i = 0; i < burst; i++) s.sendNowait(next++);
          const take = Math.max(1, burst - (round % 3));
          for (let i = 0; i < take && r.statistics().currentBufferUsed > 0; i++) out.push(r.receiveNowait());
        }
        while (r.statistics().currentBufferUsed > 0) out.push(r.receiveNowait());
        expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
      }
    }));

  test("bad buffer sizes name the value", () => {
    expect(() => openMemoryChannel(Number.NaN)).toThrow(TypeError);
    expect(() => openMemoryChannel("3" as unknown as number)).toThrow(/maxBufferSize must be an integer or Infinity, got "3"/);
    expect(() => openMemoryChannel(-Infinity)).toThrow(TypeError);
    expect(() => openMemoryChannel(-2)).toThrow(/got -2/);
    expect(() => openMemoryChannel(0)).not.toThrow();
  });

  test("a send cancelled while parked raises Cancelled that its scope catches; the error is Cancelled", () =>
    autojump(async () => {
      const [s] = openMemoryChannel<number>(0);
      let err: unknown;
      await moveOnAfter(5, async () => {
        try {
          await s.send(1);
        } catch (e) {
          err = e;
          throw e;
        }
      });
      expect(isCancelled(err)).toBe(true);
      expect(s.statistics().tasksWaitingSend).toBe(0);
    }));
});

// Keep the type parameters honest: the handles are generic over the item type.
export type _Check = [MemorySendChannel<number>, MemoryReceiveChannel<number>];
