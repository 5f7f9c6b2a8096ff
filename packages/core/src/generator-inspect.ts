/**
 * Facts about an async generator object that JavaScript cannot see: the name of its generator function,
 * whether that function belongs to one of Node's own modules, and whether the generator has finished.
 * Only `node:inspector` knows them (the `[[GeneratorFunction]]`, `[[GeneratorLocation]]` and
 * `[[GeneratorState]]` internal properties). A lookup costs 0.2-1 ms, so the generator guard asks only on
 * its violation path, and caches what does not change per generator function.
 *
 * The module is loaded lazily and every failure degrades to "unknown": builds without the inspector,
 * contexts the inspector's default context cannot reach (vm contexts), or a protocol error.
 */
import { createRequire } from "node:module";
import type { Session } from "node:inspector";

/** @internal What the inspector told us about one generator object. */
export interface GeneratorFacts {
  /** The generator function's name (`""` when anonymous); `undefined` when it was not asked for. */
  name: string | undefined;
  /** URL of the script that defines the generator function (`node:…` for Node's own modules). */
  scriptUrl: string | undefined;
  /** True once the generator has completed: resuming it cannot run its body. */
  closed: boolean;
}

const SLOT = Symbol.for("quartet.generatorGuard.inspect");
const GROUP = "quartet-generator-guard";
const NAME_OF = "function () { return typeof this.name === 'string' ? this.name : ''; }";

/** `undefined`: not tried yet; `null`: unavailable. */
let session: Session | null | undefined;
/** scriptId → URL, filled from `Debugger.scriptParsed` while the debugger agent is briefly enabled. */
const scriptUrls = new Map<string, string>();

function connect(): Session | null {
  if (session !== undefined) return session;
  session = null;
  if (!process.features.inspector) return null;
  try {
    const inspector = createRequire(import.meta.url)("node:inspector") as typeof import("node:inspector");
    const s = new inspector.Session();
    s.connect();
    s.on("Debugger.scriptParsed", (m: { params: { scriptId: string; url: string } }) => {
      scriptUrls.set(m.params.scriptId, m.params.url);
    });
    session = s;
  } catch {
    session = null;
  }
  return session;
}

/** A same-thread session answers synchronously, inside `post`. */
function post(s: Session, method: string, params?: object): any {
  let result: unknown;
  let error: unknown = null;
  s.post(method, params, (e: Error | null, r?: unknown) => {
    error = e;
    result = r;
  });
  if (error !== null) throw error;
  return result;
}

/**
 * The URL of a script by id. The protocol only reports URLs through `Debugger.scriptParsed`, which
 * `Debugger.enable` replays for every loaded script (15-90 ms); so it is done only for an id not seen yet.
 */
function scriptUrl(s: Session, scriptId: string): string | undefined {
  let url = scriptUrls.get(scriptId);
  if (url !== undefined) return url;
  try {
    post(s, "Debugger.enable");
  } finally {
    try {
      post(s, "Debugger.disable");
    } catch {
      // already disabled
    }
  }
  url = scriptUrls.get(scriptId);
  return url;
}

interface RemoteProperty {
  name: string;
  value?: { value?: unknown; objectId?: string };
}

/**
 * @internal Inspects `gen`. `full` also asks for the function's name and script URL (cache them per
 * generator function). Returns `null` when the inspector cannot tell.
 */
export function inspectGenerator(gen: object, full: boolean): GeneratorFacts | null {
  const s = connect();
  if (s === null) return null;
  const g = globalThis as Record<symbol, unknown>;
  try {
    g[SLOT] = gen;
    const evaluated = post(s, "Runtime.evaluate", {
      expression: "globalThis[Symbol.for('quartet.generatorGuard.inspect')]",
      objectGroup: GROUP,
      silent: true,
    });
    const objectId: string | undefined = evaluated?.result?.objectId;
    if (objectId === undefined) return null;
    const props = post(s, "Runtime.getProperties", { objectId, ownProperties: true });
    const internal: RemoteProperty[] = props?.internalProperties ?? [];
    let state: unknown;
    let fnId: string | undefined;
    let scriptId: string | undefined;
    for (const p of internal) {
      if (p.name === "[[GeneratorState]]") state = p.value?.value;
      else if (p.name === "[[GeneratorFunction]]") fnId = p.value?.objectId;
      else if (p.name === "[[GeneratorLocation]]") scriptId = (p.value?.value as { scriptId?: string } | undefined)?.scriptId;
    }
    if (state === undefined) return null; // not a generator the inspector knows
    const facts: GeneratorFacts = { name: undefined, scriptUrl: undefined, closed: state === "closed" };
    if (full) {
      if (fnId !== undefined) {
        const named = post(s, "Runtime.callFunctionOn", { objectId: fnId, functionDeclaration: NAME_OF, returnByValue: true, silent: true });
        const v: unknown = named?.result?.value;
        facts.name = typeof v === "string" ? v : "";
      }
      if (scriptId !== undefined) facts.scriptUrl = scriptUrl(s, scriptId);
    }
    return facts;
  } catch {
    return null;
  } finally {
    delete g[SLOT];
    try {
      post(s, "Runtime.releaseObjectGroup", { objectGroup: GROUP });
    } catch {
      // nothing to release
    }
  }
}

/** @internal Drops the session (the last guard was uninstalled). Learned script URLs stay valid. */
export function disconnectInspector(): void {
  const s = session;
  session = undefined;
  if (s !== null && s !== undefined) {
    try {
      s.disconnect();
    } catch {
      // already gone
    }
  }
}
