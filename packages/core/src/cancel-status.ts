/**
 * The cancel-status tree. Every scope entry creates a node under the node current at entry; every task
 * has a root node (the `Task` object itself) under the status of the nursery that started it. A node is
 * *effectively cancelled* when its own scope was cancelled, or when its parent is and no shield sits in
 * between. Cancellation is level-triggered: the flag stays set, and every checkpoint under the node
 * raises, until the code leaves the node.
 *
 * Changing a node (cancel, shield toggle, re-parenting) recomputes its subtree with an explicit stack
 * (5000-deep nesting must not overflow) and tries to abort every waiter parked in a node that just
 * became cancelled. Aborts and `AbortSignal`s fire after the walk, so user listeners that cancel other
 * scopes cannot observe a half-updated tree.
 */
import { Cancelled, type CancelSource } from "./errors.js";
import type { Runtime } from "./runtime.js";
import type { Task } from "./task.js";

/** @internal Why a scope is cancelled; shared by every node the cancellation reaches. */
export class CancelCause {
  private shared: Cancelled | null = null;

  constructor(
    readonly source: CancelSource,
    readonly reason: string | undefined,
    readonly sourceTask: string | undefined,
  ) {}

  /** A fresh `Cancelled` (level-triggered raises at checkpoints). */
  error(): Cancelled {
    return Cancelled._create(this.source, this.reason, this.sourceTask);
  }

  /**
   * One `Cancelled` shared by all waiters a single cancellation aborts: cancelling 100k parked tasks
   * must not build 100k error objects.
   */
  sharedError(): Cancelled {
    return (this.shared ??= this.error());
  }

  private raiser: (() => never) | null = null;

  /** The `raiseCancel` handed to abort functions (one per cause, not one per abort). */
  raiseCancel(): () => never {
    return (this.raiser ??= () => {
      throw this.sharedError();
    });
  }
}

/** @internal The per-scope state a node reads; implemented by `CancelScope`. */
export interface ScopeState {
  _cancelled: boolean;
  _shield: boolean;
  _cause: CancelCause | null;
  /** Absolute deadline (ms), `Infinity` for none. */
  _deadline: number;
}

/** @internal A parked wait that cancellation may abort; implemented by `Waiter`. */
export interface Abortable {
  sPrev: Abortable | null;
  sNext: Abortable | null;
  _attemptAbort(): void;
}

/** @internal */
export class CancelStatus {
  /** The scope this node belongs to; `null` for a task's root node. */
  scope: ScopeState | null;
  /** The task whose code runs under this node. */
  task!: Task;
  runtime: Runtime;
  parent: CancelStatus | null;
  effective = false;
  /** Why this node is effectively cancelled (own cause, or adopted from the parent). */
  cause: CancelCause | null = null;
  firstChild: CancelStatus | null = null;
  lastChild: CancelStatus | null = null;
  prevSibling: CancelStatus | null = null;
  nextSibling: CancelStatus | null = null;
  firstWaiter: Abortable | null = null;
  lastWaiter: Abortable | null = null;
  /** Created on demand by `scope.signal` / `currentSignal()`. */
  controller: AbortController | null = null;

  constructor(scope: ScopeState | null, task: Task | null, runtime: Runtime, parent: CancelStatus | null) {
    this.scope = scope;
    if (task !== null) this.task = task;
    this.runtime = runtime;
    this.parent = parent;
    if (parent !== null) {
      attachChild(parent, this);
      // A new node inherits its parent's state; only entering an already-cancelled scope differs.
      if (parent.effective && (scope === null || !scope._shield)) {
        this.effective = true;
        this.cause = parent.cause;
        if (scope !== null && scope._cause === null) scope._cause = parent.cause;
      }
    }
    if (scope !== null && scope._cancelled) {
      this.effective = true;
      this.cause = scope._cause;
    }
  }

  /** Detaches this node from its parent (scope exit, task exit). */
  detach(): void {
    const p = this.parent;
    if (p === null) return;
    const prev = this.prevSibling;
    const next = this.nextSibling;
    if (prev === null) p.firstChild = next;
    else prev.nextSibling = next;
    if (next === null) p.lastChild = prev;
    else next.prevSibling = prev;
    this.prevSibling = this.nextSibling = null;
  }

  /** Moves this node (and its subtree) under `newParent`, then recomputes it (`started()`). */
  reparent(newParent: CancelStatus): void {
    this.detach();
    this.parent = newParent;
    attachChild(newParent, this);
    recompute(this);
  }

  addWaiter(w: Abortable): void {
    w.sNext = null;
    w.sPrev = this.lastWaiter;
    if (this.lastWaiter === null) this.firstWaiter = w;
    else this.lastWaiter.sNext = w;
    this.lastWaiter = w;
  }

  removeWaiter(w: Abortable): void {
    const prev = w.sPrev;
    const next = w.sNext;
    if (prev === null) this.firstWaiter = next;
    else prev.sNext = next;
    if (next === null) this.lastWaiter = prev;
    else next.sPrev = prev;
    w.sPrev = w.sNext = null;
  }

  /** The signal that aborts when this node becomes effectively cancelled. */
  signal(): AbortSignal {
    let c = this.controller;
    if (c === null) {
      c = this.controller = new AbortController();
      if (this.effective) c.abort(this.cause!.sharedError());
    }
    return c.signal;
  }
}

function attachChild(parent: CancelStatus, child: CancelStatus): void {
  child.nextSibling = null;
  child.prevSibling = parent.lastChild;
  if (parent.lastChild === null) parent.firstChild = child;
  else parent.lastChild.nextSibling = child;
  parent.lastChild = child;
}

// Scratch arrays reused across recomputes: cancelling 100k parked tasks must not allocate (and so
// trigger a scavenge of those freshly allocated tasks) just to walk them. A nested recompute (an abort
// function cancelling another scope) finds them checked out and allocates its own.
let spareStack: CancelStatus[] | null = [];
let spareAborts: (Abortable | null)[] | null = [];

/**
 * @internal Recomputes `root`'s subtree after its scope was cancelled, its shield changed, or it was
 * re-parented; aborts newly cancelled waiters and fires newly aborted signals.
 */
export function recompute(root: CancelStatus): void {
  const stack = spareStack ?? [];
  spareStack = null;
  const aborts = spareAborts ?? [];
  spareAborts = null;
  let nAborts = 0;
  let signals: CancelStatus[] | null = null;
  stack.push(root);
  while (stack.length > 0) {
    const n = stack.pop()!;
    const scope = n.scope;
    const p = n.parent;
    let eff = false;
    let cause: CancelCause | null = null;
    if (scope !== null && scope._cancelled) {
      eff = true;
      cause = scope._cause;
    } else if (p !== null && p.effective && (scope === null || !scope._shield)) {
      eff = true;
      cause = p.cause;
      if (scope !== null && scope._cause === null) scope._cause = cause;
    }
    if (eff === n.effective) continue;
    n.effective = eff;
    n.cause = cause;
    if (eff) {
      for (let w = n.firstWaiter; w !== null; w = w.sNext) aborts[nAborts++] = w;
      if (n.controller !== null && !n.controller.signal.aborted) (signals ??= []).push(n);
    }
    for (let c = n.firstChild; c !== null; c = c.nextSibling) stack.push(c);
  }
  spareStack = stack;
  for (let i = 0; i < nAborts; i++) {
    const w = aborts[i]!;
    aborts[i] = null;
    w._attemptAbort();
  }
  spareAborts = aborts;
  if (signals !== null) {
    for (let i = 0; i < signals.length; i++) {
      const n = signals[i]!;
      // Re-check: an abort above may have changed the tree again.
      if (n.effective && !n.controller!.signal.aborted) n.controller!.abort(n.cause!.sharedError());
    }
  }
}
