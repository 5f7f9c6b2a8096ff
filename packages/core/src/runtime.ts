/**
 * The scheduler. One `Runtime` per `run()` (plus an implicit one for code outside `run`).
 *
 * - **Run queue.** Rescheduled waiters and newly spawned tasks are queued and run in batches from a
 *   microtask, first-in first-out, so a run on a mock clock gives the same trace every time. Work
 *   queued while a batch runs waits for the next batch.
 * - **Forced macrotask yield.** A loop of checkpoints only ever creates microtasks, which would starve
 *   timers and I/O. Every few scheduling events the runtime reads the real clock (reading it on every
 *   event would cost more than the event); once the current macrotask has run for `SLICE_MS`, the next
 *   batch is deferred with `setImmediate`. The budget between clock reads adapts to how long events take.
 * - **Deadlines.** One binary heap for every deadline (scopes and sleeps) and **one** host timer for its
 *   minimum. Adding a later deadline does not touch the timer; an emptied heap releases the timer at the
 *   next check phase, so a stream of `moveOnAfter` scopes costs no timer calls at all.
 * - **Idle detection.** Only while someone needs it (an autojump clock or `waitAllTasksBlocked`): the
 *   runtime counts scheduling events and looks at the count from the check phase; no change between two
 *   looks means every task is blocked. It then wakes the idle waiters with the smallest cushion, or
 *   autojumps the clock to the next deadline, or reports a deadlock.
 */
import type { Clock, ClockHost } from "./clock.js";
import { DeadlineHeap, type DeadlineEntry } from "./deadline-heap.js";
import type { InstrumentSet } from "./instrument.js";
import type { Task } from "./task.js";
import type { CancelStatus } from "./cancel-status.js";
import { enterStatus, getStatus } from "./context.js";

/** @internal Something the run queue can run: a rescheduled waiter or a task to start. */
export interface Runnable {
  _run(): void;
}

/** @internal A task parked in `waitAllTasksBlocked`. */
export interface IdleWaiter {
  readonly cushion: number;
  _wakeIdle(): void;
}

/** Longest a run of microtask batches may hold the event loop before yielding a macrotask, in ms. */
const SLICE_MS = 4;
/** Real ms the deadlock condition must hold before it is reported (foreign callbacks may still arrive). */
const DEADLOCK_GRACE_MS = 250;
/** `setTimeout` cannot wait longer than this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runtime counters, as returned by `currentStatistics()`.
 */
export interface RuntimeStatistics {
  /** Tasks started and not yet exited (the implicit runtime's own root is not counted). */
  tasksLiving: number;
  /** Entries waiting in the run queue. */
  tasksRunnable: number;
  /** Waits currently parked in `waitTaskRescheduled` (sleeps, channel ops, locks, …). */
  waitersParked: number;
  /** Deadlines registered (active scopes with a finite deadline, sleeping tasks). */
  pendingDeadlines: number;
  /** Ms from now to the earliest deadline; `Infinity` if none (may be negative). */
  msToNextDeadline: number;
  /** `cancellable()` calls whose foreign promise has not settled. */
  foreignWaits: number;
  /** Tasks parked in `waitAllTasksBlocked`. */
  idleWaiters: number;
  /** Whether the runtime holds a host timer right now. */
  hostTimerActive: boolean;
}

/** @internal */
export class Runtime implements ClockHost {
  readonly clock: Clock;
  readonly implicit: boolean;
  /** The root cancel-status node (the root task). Set by the creator. */
  root!: Task;
  instruments: InstrumentSet | null = null;

  tasksLiving = 0;
  /** Tasks with at least one parked wait. */
  parkedTasks = 0;
  waitersParked = 0;
  foreignWaits = 0;
  /** Scheduling events so far; idle detection compares it between looks. */
  steps = 0;
  /** Fast checkpoints and scheduling events left before the next real-clock read. */
  budget = 16;
  /** A forced macrotask yield is due: the next batch goes through `setImmediate`. */
  yieldDue = false;
  closed = false;
  /** Called when the deadlock detector fires (set by `run`). */
  onDeadlock: ((error: Error) => void) | null = null;

  // Two arrays with explicit lengths, swapped per batch: they keep their capacity, so a burst of 100k
  // reschedules does not regrow (and reallocate) the queue every time.
  private queue: (Runnable | undefined)[] = [];
  private queueLen = 0;
  private spare: (Runnable | undefined)[] = [];
  /** A batch is scheduled (microtask or immediate); read by the checkpoint fast path. */
  drainScheduled = false;
  private readonly drainBound = (): void => this.drain();

  private budgetMax = 16;
  private lastClockRead = 0;
  private sliceStart = 0;
  private inSlice = false;
  private checkPhaseScheduled = false;
  private readonly checkPhaseBound = (): void => this.checkPhase();

  private readonly heap = new DeadlineHeap();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerDeadline = Infinity;
  private readonly onTimerBound = (): void => this.onTimer();
  private deadlineCheckPending = false;

  private readonly idleWaiters: IdleWaiter[] = [];
  private idleSteps = -1;
  private idleSince = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly idleTimerBound = (): void => {
    this.idleTimer = null;
    this.idleStep();
  };
  private deadlockSuspectSince = -1;
  private ioWaitOpen = false;

  constructor(clock: Clock, implicit: boolean) {
    this.clock = clock;
    this.implicit = implicit;
    clock.startClock?.(this);
  }

  // ---------------------------------------------------------------- run queue

  /** Queues `r` to run in the next batch. */
  enqueue(r: Runnable): void {
    this.queue[this.queueLen++] = r;
    if (!this.drainScheduled) this.scheduleDrain();
  }

  private scheduleDrain(): void {
    this.drainScheduled = true;
    if (this.yieldDue || (--this.budget <= 0 && this.readClock())) setImmediate(this.drainBound);
    else queueMicrotask(this.drainBound);
  }

  private drain(): void {
    this.drainScheduled = false;
    this.steps++;
    const ins = this.instruments;
    if (ins !== null && this.ioWaitOpen) {
      this.ioWaitOpen = false;
      ins.call("afterIoWait", 0);
    }
    if (this.deadlineCheckPending) {
      this.deadlineCheckPending = false;
      this.processDeadlines();
    }
    const n = this.queueLen;
    if (n > 0) {
      const batch = this.queue;
      this.queue = this.spare;
      this.queueLen = 0;
      const context = getStatus();
      for (let i = 0; i < n; i++) {
        const r = batch[i]!;
        batch[i] = undefined;
        r._run();
      }
      this.spare = batch;
      // Starting a task enters its context for the rest of the batch (see Task._run).
      if (getStatus() !== context) enterStatus(context);
    }
    if (ins !== null && this.queueLen === 0 && !this.ioWaitOpen) {
      this.ioWaitOpen = true;
      ins.call("beforeIoWait", this.msToNextDeadline());
    }
    if (this.idleWaiters.length > 0 || this.autojumpOn()) this.requestCheckPhase();
  }

  /**
   * Called by fast paths (checkpoints) every time their budget runs out, and by the scheduler. Reads
   * the real clock, adapts the budget, notes expired deadlines, and says whether to yield a macrotask.
   */
  readClock(): boolean {
    const now = performance.now();
    const dt = now - this.lastClockRead;
    this.lastClockRead = now;
    // Aim for roughly one clock read per 0.1–1 ms of work.
    if (dt > 1) this.budgetMax = this.budgetMax > 1 ? this.budgetMax >> 1 : 1;
    else if (dt < 0.1 && this.budgetMax < 1024) this.budgetMax <<= 1;
    this.budget = this.budgetMax;
    const top = this.heap.peek();
    if (top !== undefined && !this.deadlineCheckPending && top.deadline <= this.clock.currentTime()) {
      this.deadlineCheckPending = true;
      if (!this.drainScheduled) {
        this.drainScheduled = true;
        queueMicrotask(this.drainBound);
      }
    }
    if (!this.inSlice) {
      this.inSlice = true;
      this.sliceStart = now;
      this.requestCheckPhase();
      return false;
    }
    if (now - this.sliceStart >= SLICE_MS) this.yieldDue = true;
    return this.yieldDue;
  }

  private requestCheckPhase(): void {
    if (this.checkPhaseScheduled || this.closed) return;
    this.checkPhaseScheduled = true;
    setImmediate(this.checkPhaseBound);
  }

  /** Runs once per event-loop turn in which Quartet did something. */
  private checkPhase(): void {
    this.checkPhaseScheduled = false;
    this.inSlice = false;
    this.yieldDue = false;
    if (this.heap.size === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.timerDeadline = Infinity;
    }
    if (this.idleWaiters.length > 0 || this.autojumpOn()) this.idleStep();
  }

  // ---------------------------------------------------------------- deadlines

  addDeadline(e: DeadlineEntry): void {
    this.heap.push(e);
    if (e.heapIndex === 0 && (this.timer === null || e.deadline < this.timerDeadline)) this.armTimer();
  }

  removeDeadline(e: DeadlineEntry): void {
    if (e.heapIndex < 0) return;
    this.heap.remove(e);
    if (this.heap.size === 0 && this.timer !== null) this.requestCheckPhase();
  }

  /** `e.deadline` changed while registered. */
  updateDeadline(e: DeadlineEntry): void {
    this.heap.update(e);
    if (e.heapIndex === 0) {
      if (this.timer === null || e.deadline < this.timerDeadline) this.armTimer();
      if (e.deadline <= this.clock.currentTime()) this.requestDeadlineCheck();
    }
  }

  /** Expire deadlines on the next scheduler pass (Trio: "at the next loop iteration"). */
  requestDeadlineCheck(): void {
    this.deadlineCheckPending = true;
    if (!this.drainScheduled) this.scheduleDrain();
  }

  private armTimer(): void {
    const top = this.heap.peek();
    if (top === undefined || this.closed) return;
    const ms = this.clock.deadlineToSleepTime(top.deadline);
    if (ms <= 0) {
      this.requestDeadlineCheck();
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    if (ms === Infinity) {
      // A stopped virtual clock: only jumps and autojump move time.
      this.timer = null;
      this.timerDeadline = Infinity;
      if (this.autojumpOn()) this.requestCheckPhase();
      return;
    }
    this.timer = setTimeout(this.onTimerBound, Math.min(Math.ceil(ms), MAX_TIMER_MS));
    this.timerDeadline = top.deadline;
  }

  private onTimer(): void {
    this.timer = null;
    this.timerDeadline = Infinity;
    if (this.ioWaitOpen && this.instruments !== null) {
      this.ioWaitOpen = false;
      this.instruments.call("afterIoWait", 0);
    }
    this.processDeadlines();
    this.armTimer();
  }

  private processDeadlines(): void {
    const heap = this.heap;
    if (heap.size === 0) return;
    const now = this.clock.currentTime();
    let e: DeadlineEntry | undefined;
    while ((e = heap.peek()) !== undefined && e.deadline <= now) {
      heap.remove(e);
      e.expireDeadline();
    }
    const top = heap.peek();
    if (top !== undefined) {
      if (this.timer === null || top.deadline < this.timerDeadline) this.armTimer();
    } else if (this.timer !== null) {
      // Expired here (a drain, a mock-clock jump) rather than by the timer: nothing is left for it.
      clearTimeout(this.timer);
      this.timer = null;
      this.timerDeadline = Infinity;
    }
  }

  msToNextDeadline(): number {
    const top = this.heap.peek();
    return top === undefined ? Infinity : top.deadline - this.clock.currentTime();
  }

  /** @internal ClockHost: the clock's time, rate or threshold changed. */
  clockChanged(): void {
    if (this.closed) return;
    this.requestDeadlineCheck();
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.timerDeadline = Infinity;
    }
    this.armTimer();
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (this.idleWaiters.length > 0 || this.autojumpOn()) this.requestCheckPhase();
  }

  // ---------------------------------------------------------------- idle detection

  private autojumpOn(): boolean {
    const t = this.clock.autojumpThreshold;
    return t !== undefined && t < Infinity;
  }

  addIdleWaiter(w: IdleWaiter): void {
    this.idleWaiters.push(w);
    this.requestCheckPhase();
  }

  removeIdleWaiter(w: IdleWaiter): void {
    const i = this.idleWaiters.indexOf(w);
    if (i >= 0) this.idleWaiters.splice(i, 1);
  }

  private idleStep(): void {
    if (this.closed) return;
    const now = performance.now();
    if (this.steps !== this.idleSteps || this.queueLen > 0 || this.drainScheduled || this.deadlineCheckPending) {
      // Something ran since the last look: the idle period starts over.
      this.idleSteps = this.steps;
      this.idleSince = now;
      this.deadlockSuspectSince = -1;
      if (this.idleTimer !== null) {
        clearTimeout(this.idleTimer);
        this.idleTimer = null;
      }
      this.requestCheckPhase();
      return;
    }
    this.onIdle(now - this.idleSince, now);
  }

  private onIdle(idleFor: number, now: number): void {
    const top = this.heap.peek();
    const sleep = top === undefined ? Infinity : this.clock.deadlineToSleepTime(top.deadline);
    if (sleep <= 0) {
      this.requestDeadlineCheck();
      return;
    }
    const waiters = this.idleWaiters;
    if (waiters.length > 0) {
      let cushion = Infinity;
      for (const w of waiters) if (w.cushion < cushion) cushion = w.cushion;
      if (cushion < sleep) {
        if (idleFor >= cushion) {
          const woken = waiters.filter((w) => w.cushion === cushion);
          for (const w of woken) {
            this.removeIdleWaiter(w);
            w._wakeIdle();
          }
        } else {
          this.armIdleTimer(cushion - idleFor);
        }
      }
      // As Trio: while anyone waits for idleness, never autojump (the waiter would see time move
      // under it); the deadline, if it comes first, is reached by real time.
      return;
    }
    const threshold = this.clock.autojumpThreshold ?? Infinity;
    if (threshold === Infinity) return;
    if (top !== undefined) {
      if (threshold < sleep) {
        if (idleFor >= threshold) this.clock.autojump?.(top.deadline);
        else this.armIdleTimer(threshold - idleFor);
      }
      return;
    }
    if (waiters.length === 0) this.checkDeadlock(now);
  }

  private armIdleTimer(ms: number): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(this.idleTimerBound, Math.min(Math.max(1, Math.ceil(ms)), MAX_TIMER_MS));
  }

  private checkDeadlock(now: number): void {
    if (this.onDeadlock === null || this.tasksLiving === 0) return;
    if (this.foreignWaits > 0 || this.parkedTasks < this.tasksLiving) {
      // Foreign work is outstanding (declared, or a task awaiting a promise the runtime cannot see).
      // When it ends it may wake nobody, or its task may park without anything entering the run
      // queue, and then no check phase would ever look again: poll slowly instead.
      // Unref'd: the foreign work, not this poll, decides whether the process stays alive.
      this.armIdleTimer(DEADLOCK_GRACE_MS);
      this.idleTimer!.unref();
      return;
    }
    if (this.deadlockSuspectSince < 0) this.deadlockSuspectSince = now;
    const waited = now - this.deadlockSuspectSince;
    if (waited < DEADLOCK_GRACE_MS) {
      this.armIdleTimer(DEADLOCK_GRACE_MS - waited);
      return;
    }
    const report = this.onDeadlock;
    this.onDeadlock = null;
    report(new Error(describeDeadlock(this.root)));
  }

  // ---------------------------------------------------------------- lifecycle and stats

  /** Releases timers and immediates; the runtime keeps working for stragglers but holds nothing. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.timer = this.idleTimer = null;
    this.timerDeadline = Infinity;
    this.clock.stopClock?.(this);
  }

  statistics(): RuntimeStatistics {
    return {
      tasksLiving: this.tasksLiving,
      tasksRunnable: this.queueLen,
      waitersParked: this.waitersParked,
      pendingDeadlines: this.heap.size,
      msToNextDeadline: this.msToNextDeadline(),
      foreignWaits: this.foreignWaits,
      idleWaiters: this.idleWaiters.length,
      hostTimerActive: this.timer !== null,
    };
  }
}

/** Lists every parked wait under `root`, task by task. */
function describeDeadlock(root: CancelStatus): string {
  const lines: string[] = [];
  const stack: CancelStatus[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    for (let w = n.firstWaiter as unknown as { what?: string; sNext: unknown } | null; w !== null; w = w.sNext as typeof w) {
      lines.push(`  task "${n.task.name}" is waiting in ${w.what ?? "a parked wait"}`);
    }
    const children: CancelStatus[] = [];
    for (let c = n.firstChild; c !== null; c = c.nextSibling) children.push(c);
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return (
    "Deadlock: every task is parked, no deadline is pending and no foreign work is outstanding, so the " +
    "run can never make progress. Parked tasks:\n" +
    (lines.length > 0 ? lines.join("\n") : "  (none found)")
  );
}
