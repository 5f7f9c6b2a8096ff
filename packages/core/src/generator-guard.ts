/**
 * The generator guard: catches an async generator being resumed from inside a cancel scope it did not
 * yield in (`moveOnAfter(t, () => it.next())`). The generator body runs in the context of whoever
 * resumes it, so that scope's cancellation is delivered inside the body and kills the generator (or,
 * if the body catches it, corrupts its state), while the consumer goes on using it.
 *
 * How: while installed, `next`/`return`/`throw` of %AsyncGeneratorPrototype% are wrappers. Each step
 * reads the current cancel-status node and compares it with the node the generator was last resumed
 * from (a `WeakMap` lookup; the body of a step runs in its resumer's context, so that node is where the
 * generator last yielded). Same node: straight to the original method, returning its own promise (a
 * derived one would add a tick to every step). Different node: the slow path decides.
 *
 * "Same scope", precisely: resuming from node C after yielding under node P is a violation iff C's
 * chain of cancel-status nodes holds a cancel scope that is not on P's chain. Such a scope can cancel
 * the body and nothing that covered the generator before would have. So `Promise.all` branches (one
 * node), a `for await` loop (one node), returning to an enclosing scope, and moving between sibling
 * tasks (task nodes are not scopes) are fine, and the node identity check is only the fast path.
 *
 * Not installed means not one extra instruction anywhere: nothing in the runtime knows about the guard.
 * A wrapper captured by a `for await` loop that outlives the guard checks `active` and passes through.
 */
import type { CancelStatus } from "./cancel-status.js";
import { getStatus } from "./context.js";
import { Cancelled, ExceptionGroup, RuntimeError, describe } from "./errors.js";
import { disconnectInspector, inspectGenerator } from "./generator-inspect.js";
import { requireOptions } from "./validate.js";

/** What the guard saw. */
export interface GuardViolation {
  /**
   * `"yield-across-scope"`: resumed (`next`/`return`/`throw`) under a cancel scope it did not yield in.
   * `"cancelled-inside-generator"`: a `Cancelled` from such a scope passed out of the generator's body.
   */
  readonly kind: "yield-across-scope" | "cancelled-inside-generator";
  /** The generator function's name; `"<anonymous>"` when it has none (or cannot be found out). */
  readonly generatorName: string;
  /** Where the offending scope was entered (a stack frame, `fn (file:line:col)`), when known. */
  readonly scopeCreatedAt?: string;
  /** Names the generator and the resuming call site, and says how to fix it. */
  readonly message: string;
}

/** Options of `installGeneratorGuard`. */
export interface GeneratorGuardOptions {
  /** `"warn"` (default): report once per generator and call site. `"throw"`: refuse the offending step. */
  mode?: "warn" | "throw";
  /** Receives each report instead of `process.emitWarning`. */
  onViolation?: (violation: GuardViolation) => void;
}

/**
 * The rejection of a generator step refused by the guard in `"throw"` mode. The generator body did not
 * run: the generator is untouched and can still be consumed from the scope it yielded in.
 *
 * @example
 * ```ts
 * try { await moveOnAfter(100, () => it.next()); }
 * catch (e) { if (e instanceof GeneratorGuardError) console.error(e.violation.generatorName); }
 * ```
 */
export class GeneratorGuardError extends RuntimeError {
  /** What was refused. */
  readonly violation: GuardViolation;

  constructor(violation: GuardViolation) {
    super(violation.message);
    this.violation = violation;
  }
}
Object.defineProperty(GeneratorGuardError.prototype, "name", { value: "GeneratorGuardError", configurable: true, writable: true });

type Method = "next" | "return" | "throw";
type Step = (this: object, value?: unknown) => Promise<IteratorResult<unknown>>;

interface Install {
  readonly mode: "warn" | "throw";
  readonly onViolation: ((violation: GuardViolation) => void) | undefined;
}

interface GeneratorKind {
  readonly name: string;
  /** Defined in one of Node's own modules: never reaches a Quartet checkpoint, never reported. */
  readonly internal: boolean;
}

interface Sites {
  /** The frame that resumed the generator (`fn (file:line:col)`). */
  resumedAt: string | undefined;
  /** Where the scope around that call was entered. */
  scopeAt: string | undefined;
}

const WARNING_CODE = "QUARTET_GENERATOR_GUARD";
const FIX =
  "Consume a generator from one scope only: wrap it with asSafeChannel() from @quartet/channels (the generator then runs in its own task) " +
  "and put the timeout around the consumer's receive(), e.g. `await moveOnAfter(ms, () => rx.receive())`.";

const AGP: Record<Method, Step> = Object.getPrototypeOf(async function* () {}.prototype);

/** The methods found on %AsyncGeneratorPrototype% when the guard was (last) hooked in. */
let origNext: Step = AGP.next;
let origReturn: Step = AGP.return;
let origThrow: Step = AGP.throw;

/** The options in force (the latest install), or `null` when not installed. */
let active: Install | null = null;
const installs: Install[] = [];

/** Generator → the node it was last resumed from (only steps taken inside Quartet are tracked). */
let positions = new WeakMap<object, CancelStatus>();
/** Generator → report keys (`kind site`) already reported in warn mode. */
let reported = new WeakMap<object, Set<string>>();
/** Generator function prototype → name and origin (they do not change). */
const kinds = new WeakMap<object, GeneratorKind>();
/**
 * Set while a violating step runs its body synchronously: generators it resumes (`yield*` delegation)
 * moved because of the same call, which is reported once, for the outer generator.
 */
let inViolatingStep = false;

// Object-literal methods: named `next`/`return`/`throw`, length 1, not constructors, like the originals.
const wrappers: Record<Method, Step> = {
  next(value?: unknown) {
    if (active !== null) {
      const s = getStatus();
      if (positions.get(this) !== s) {
        const p = moved(this, s, "next", value);
        if (p !== null) return p;
      }
    }
    return origNext.call(this, value);
  },
  return(value?: unknown) {
    if (active !== null) {
      const s = getStatus();
      if (positions.get(this) !== s) {
        const p = moved(this, s, "return", value);
        if (p !== null) return p;
      }
    }
    return origReturn.call(this, value);
  },
  throw(value?: unknown) {
    if (active !== null) {
      const s = getStatus();
      if (positions.get(this) !== s) {
        const p = moved(this, s, "throw", value);
        if (p !== null) return p;
      }
    }
    return origThrow.call(this, value);
  },
};

function original(method: Method): Step {
  return method === "next" ? origNext : method === "return" ? origReturn : origThrow;
}

/**
 * The slow path: the generator is resumed from another node than last time (or for the first time).
 * Returns the step's promise when it handled the call, `null` to let the wrapper call the original.
 */
function moved(gen: object, s: CancelStatus | undefined, method: Method, value: unknown): Promise<IteratorResult<unknown>> | null {
  if (typeof gen !== "object" || gen === null) return null; // the original rejects it
  const prev = positions.get(gen);
  if (s === undefined) {
    // Outside every task nothing can cancel the body. Forget the position, so that such steps keep to
    // the fast path; the generator is tracked again from its next step inside Quartet.
    if (prev !== undefined) positions.delete(gen);
    return null;
  }
  // First tracked step ("a generator that has not yielded yet is not checked"), a generator resumed by
  // a step already reported, or a move that adds no cancel scope: record the new position.
  if (prev === undefined || inViolatingStep || !addsScope(s, prev)) {
    positions.set(gen, s);
    return null;
  }
  const proto = Object.getPrototypeOf(gen) as object | null;
  const known = proto === null ? undefined : kinds.get(proto);
  if (known !== undefined && known.internal) {
    positions.set(gen, s);
    return null;
  }
  const config = active!;
  const sites = captureSites(wrappers[method]);
  const key = reportKey("yield-across-scope", sites);
  let name: string;
  if (config.mode === "warn" && known !== undefined && wasReported(gen, key)) {
    // Reported already: skip the inspector (~0.3 ms), so a loop with this bug is slowed down little.
    name = known.name;
  } else {
    const kind = kindOf(gen, proto, known);
    // Node's own generators never reach a Quartet checkpoint; a finished one cannot run its body.
    if (kind.internal || kind.closed) {
      positions.set(gen, s);
      return null;
    }
    name = kind.name;
    const violation = makeViolation("yield-across-scope", name, sites, method);
    if (config.mode === "throw") {
      if (config.onViolation !== undefined) deliver(config.onViolation, violation);
      // Refused before the body runs: the generator stays where it was, usable from its own scope.
      return Promise.reject(new GeneratorGuardError(violation));
    }
    reportOnce(config, gen, violation, key);
  }
  positions.set(gen, s);
  let p: Promise<IteratorResult<unknown>>;
  inViolatingStep = true;
  try {
    p = original(method).call(gen, value);
  } finally {
    inViolatingStep = false;
  }
  watchForCancelled(p, gen, name, s, prev, sites);
  return p;
}

/** True when `n` is `p` or one of its ancestors. */
function onChain(n: CancelStatus, p: CancelStatus): boolean {
  for (let x: CancelStatus | null = p; x !== null; x = x.parent) if (x === n) return true;
  return false;
}

/** Does resuming from `c` put a cancel scope around the body that did not cover it at `p`? */
function addsScope(c: CancelStatus, p: CancelStatus): boolean {
  for (let n: CancelStatus | null = c; n !== null; n = n.parent) {
    if (onChain(n, p)) return false;
    if (n.scope !== null) return true;
  }
  return false;
}

/**
 * Is a scope that covers `c` but not `p` cancelled, and visible from `c` (no shield in between)? Then
 * the `Cancelled` that left the body came from a scope the generator did not yield in. Scopes never
 * become uncancelled, and exited nodes keep their parent link, so this holds when the step settles.
 */
function cancelledFromOutside(c: CancelStatus, p: CancelStatus): boolean {
  for (let n: CancelStatus | null = c; n !== null; n = n.parent) {
    if (onChain(n, p)) return false;
    const scope = n.scope;
    if (scope !== null) {
      if (scope._cancelled) return true;
      if (scope._shield) return false;
    }
  }
  return false;
}

function hasCancelled(e: unknown): boolean {
  if (e instanceof Cancelled) return true;
  if (e instanceof ExceptionGroup) {
    for (const x of e.errors) if (hasCancelled(x)) return true;
  }
  return false;
}

/**
 * Watches a violating step (warn mode): if a `Cancelled` from the foreign scope comes out of the body,
 * reports "cancelled-inside-generator". Attaching the handler marks the step's promise as handled, so
 * an unobserved rejection of this one step is no longer reported by Node; a rethrow would instead
 * report a false one whenever the caller does handle it. Only violating steps are watched: on any other
 * step the body runs under scopes that already covered the generator, so no foreign `Cancelled` can reach it.
 */
function watchForCancelled(
  p: Promise<IteratorResult<unknown>>,
  gen: object,
  name: string,
  c: CancelStatus,
  prev: CancelStatus,
  sites: Sites,
): void {
  p.then(undefined, (e: unknown) => {
    const config = active;
    if (config === null || !hasCancelled(e) || !cancelledFromOutside(c, prev)) return;
    const v = makeViolation("cancelled-inside-generator", name, sites, "next");
    reportOnce(config, gen, v, reportKey(v.kind, sites));
  });
}

interface GeneratorKindNow extends GeneratorKind {
  closed: boolean;
}

/** Asks the inspector; what does not change is cached per generator function (its prototype). */
function kindOf(gen: object, proto: object | null, known: GeneratorKind | undefined): GeneratorKindNow {
  const facts = inspectGenerator(gen, known === undefined);
  let kind = known;
  if (kind === undefined) {
    kind = {
      name: facts?.name || "<anonymous>",
      internal: facts?.scriptUrl !== undefined && facts.scriptUrl.startsWith("node:"),
    };
    if (proto !== null) kinds.set(proto, kind);
  }
  return { name: kind.name, internal: kind.internal, closed: facts !== null && facts.closed };
}

// ---------------------------------------------------------------------------------------- call sites

const CORE_ROOT = coreRoot();

/** The core package's directory (`…/core/`), whose `src/` or `dist/` frames are Quartet's own. */
function coreRoot(): string {
  let here = import.meta.url;
  if (here.startsWith("file:")) here = decodeURIComponent(new URL(here).pathname);
  const m = /^(.*[\\/])(?:src|dist)[\\/]/.exec(here);
  return m !== null ? m[1]! : here.replace(/[^\\/]*$/, "");
}

const FRAME = /^\s*at (?:async )?(.*)$/;

/** `fn (file:line:col)` → `file:line:col`; `file:line:col` as is. */
function locationOf(frame: string): string {
  const m = /\(([^()]*)\)$/.exec(frame);
  return m !== null ? m[1]! : frame;
}

type FrameKind = "quartet" | "skip" | "user";

function classify(location: string): FrameKind {
  if (location.startsWith("node:") || !/:\d+:\d+$/.test(location)) return "skip";
  let file = location;
  if (file.startsWith("file:")) {
    try {
      file = decodeURIComponent(new URL(file.replace(/:\d+:\d+$/, "")).pathname);
    } catch {
      return "user";
    }
  }
  if (file.startsWith(CORE_ROOT + "src") || file.startsWith(CORE_ROOT + "dist")) return "quartet";
  return "user";
}

/**
 * The stack at the violating call: its first user frame is the resuming call site. Where the scope was
 * entered: when the scope called its callback synchronously, the runtime's frames (`moveOnAfter`,
 * `openNursery`, `scope.run`) follow the resuming frame, and the user frame after them is the call that
 * entered the scope. After an await inside the scope, V8's async stack skips the runtime (scope exits
 * are then-handlers, not async functions) and the next user frame, `at async consumer`, is that call.
 * Captured only on the violation path: ~3 µs, instead of ~1.5 µs per scope on every scope entry.
 */
function captureSites(below: Function): Sites {
  const holder: { stack?: unknown } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  try {
    Error.captureStackTrace(holder, below);
  } finally {
    Error.stackTraceLimit = limit;
  }
  const sites: Sites = { resumedAt: undefined, scopeAt: undefined };
  const stack = holder.stack;
  if (typeof stack !== "string") return sites;
  let sawQuartet = false;
  let nextUser: string | undefined;
  for (const line of stack.split("\n")) {
    const m = FRAME.exec(line);
    if (m === null) continue;
    const frame = m[1]!.trim();
    const k = classify(locationOf(frame));
    if (k === "skip") continue;
    if (sites.resumedAt === undefined) {
      if (k === "user") sites.resumedAt = frame;
    } else if (k === "quartet") {
      sawQuartet = true;
    } else if (sawQuartet) {
      sites.scopeAt = frame;
      return sites;
    } else {
      nextUser ??= frame;
    }
  }
  sites.scopeAt = nextUser;
  return sites;
}

// ---------------------------------------------------------------------------------------- reporting

function makeViolation(kind: GuardViolation["kind"], name: string, sites: Sites, method: Method): GuardViolation {
  const at = sites.resumedAt !== undefined ? ` at ${sites.resumedAt}` : "";
  const scope = sites.scopeAt !== undefined ? ` (scope entered at ${sites.scopeAt})` : "";
  const message =
    kind === "yield-across-scope"
      ? `async generator ${name} was resumed with ${method}()${at} under a cancel scope it did not yield in${scope}. ` +
        `A cancellation of that scope would be delivered inside the generator's body and kill it, or corrupt its state if the body catches it. ${FIX}`
      : `a Cancelled from a cancel scope that async generator ${name} did not yield in${scope} passed through its body ` +
        `(resumed${at}); the generator is finished now, although its consumer may go on using it. ${FIX}`;
  const v: { kind: GuardViolation["kind"]; generatorName: string; scopeCreatedAt?: string; message: string } = {
    kind,
    generatorName: name,
    message,
  };
  if (sites.scopeAt !== undefined) v.scopeCreatedAt = sites.scopeAt;
  return v;
}

function reportKey(kind: GuardViolation["kind"], sites: Sites): string {
  return `${kind} ${sites.resumedAt !== undefined ? locationOf(sites.resumedAt) : "?"}`;
}

function wasReported(gen: object, key: string): boolean {
  const seen = reported.get(gen);
  return seen !== undefined && seen.has(key);
}

/** Warn-mode reporting: once per generator, kind and resuming call site. */
function reportOnce(config: Install, gen: object, v: GuardViolation, key: string): void {
  let seen = reported.get(gen);
  if (seen === undefined) reported.set(gen, (seen = new Set()));
  if (seen.has(key)) return;
  seen.add(key);
  if (config.onViolation !== undefined) deliver(config.onViolation, v);
  else process.emitWarning(v.message, { code: WARNING_CODE, type: "QuartetGeneratorGuardWarning" });
}

/**
 * Calls the user's callback. It runs inside a generator method, so its exception must not replace the
 * step's outcome: it is rethrown from a microtask, as an uncaught error.
 */
function deliver(cb: (v: GuardViolation) => void, v: GuardViolation): void {
  try {
    cb(v);
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}

// ---------------------------------------------------------------------------------------- installing

function hook(): void {
  origNext = AGP.next;
  origReturn = AGP.return;
  origThrow = AGP.throw;
  positions = new WeakMap();
  reported = new WeakMap();
  AGP.next = wrappers.next;
  AGP.return = wrappers.return;
  AGP.throw = wrappers.throw;
}

function unhook(): void {
  // Put back only what is still ours: someone who patched after us keeps their patch.
  if (AGP.next === wrappers.next) AGP.next = origNext;
  if (AGP.return === wrappers.return) AGP.return = origReturn;
  if (AGP.throw === wrappers.throw) AGP.throw = origThrow;
  positions = new WeakMap();
  reported = new WeakMap();
  disconnectInspector();
}

/**
 * Turns on the runtime check for async generators resumed under a cancel scope they did not yield in
 * (`moveOnAfter(t, () => it.next())`), and for `Cancelled`s from such a scope passing through their
 * bodies. Returns the uninstaller (idempotent). Installs nest: the latest options apply until its
 * uninstaller runs. Not installed, the guard costs nothing; installed, a step costs at most ~1.2× as
 * much. `quartetTest` from `@quartet/testing` installs it in `"throw"` mode.
 *
 * @example
 * ```ts
 * const uninstall = installGeneratorGuard({ mode: "throw" });
 * try {
 *   await run(main);
 * } finally {
 *   uninstall();
 * }
 * ```
 */
export function installGeneratorGuard(opts?: GeneratorGuardOptions): () => void {
  requireOptions("installGeneratorGuard", "opts", opts);
  const mode = opts?.mode;
  const onViolation = opts?.onViolation;
  if (mode !== undefined) {
    if (typeof mode !== "string") {
      throw new TypeError(`installGeneratorGuard: opts.mode must be "warn" or "throw", got ${describe(mode)}`);
    }
    if (mode !== "warn" && mode !== "throw") {
      throw new RangeError(`installGeneratorGuard: opts.mode must be "warn" or "throw", got ${describe(mode)}`);
    }
  }
  if (onViolation !== undefined && typeof onViolation !== "function") {
    throw new TypeError(`installGeneratorGuard: opts.onViolation must be a function, got ${describe(onViolation)}`);
  }
  const install: Install = { mode: mode ?? "warn", onViolation };
  if (installs.length === 0) hook();
  installs.push(install);
  active = install;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    installs.splice(installs.lastIndexOf(install), 1);
    if (installs.length > 0) {
      active = installs[installs.length - 1]!;
    } else {
      active = null;
      unhook();
    }
  };
}
