// The streaming proxy with real sockets on 127.0.0.1: a normal stream, a client that disconnects
// mid-stream, a stalled upstream, an unreachable upstream, a shutdown with a request in flight; then
// the CLI (bad input, Ctrl-C).
import { spawn, type ChildProcess } from "node:child_process";
import http, { type IncomingMessage } from "node:http";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { cancellable, failAfter, openNursery, run, sleep, type TaskStatus } from "@quartet/core";
import { currentStatistics } from "@quartet/core/lowlevel";
import { DEFAULT_LIMITS, proxyHandler, type ProxyEvent, type StreamLimits } from "./proxy.js";
import { serveHttp, type HttpService, type RequestHandler } from "./serve-http.js";
import { slowUpstream, upstreamLine, type UpstreamEvent } from "./upstream.js";

// ---- leak check: no server, socket or timer outlives a test ----------------------------------------

const WATCHED = ["TCPServerWrap", "TCPSocketWrap", "Timeout"];
function countResources(): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of process.getActiveResourcesInfo()) if (WATCHED.includes(k)) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}
let resourcesBefore: Map<string, number>;
beforeEach(() => {
  resourcesBefore = countResources();
});
afterEach(async () => {
  const over = (): string[] => {
    const now = countResources();
    return WATCHED.filter((k) => (now.get(k) ?? 0) > (resourcesBefore.get(k) ?? 0));
  };
  // vitest's own RPC may hold a Timeout for a moment on a loaded machine: give foreign handles ~250 ms.
  for (let i = 0; i < 25 && over().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(over(), "resources left behind").toEqual([]);
});

// ---- harness -------------------------------------------------------------------------------------

interface Harness {
  proxy: HttpService;
  upstream: HttpService;
  proxyEvents: ProxyEvent[];
  upstreamEvents: UpstreamEvent[];
  /** Bytes the upstream has written so far (all requests). */
  upstreamBytes: () => number;
}

interface HarnessOptions {
  limits?: Partial<StreamLimits>;
  /** Forward here instead of to the slow upstream (which still runs). */
  upstreamUrl?: URL;
}

/**
 * Runs `body` with a slow upstream (a line every 10 ms, 10 lines) and the proxy in front of it, in a
 * fresh run; shuts both down afterwards, and checks that the run ends with nothing left.
 */
function withProxy<T>(opts: HarnessOptions, body: (h: Harness) => Promise<T>): Promise<T> {
  return run(async () => {
    const result = await openNursery(async (n) => {
      const proxyEvents: ProxyEvent[] = [];
      const upstreamEvents: UpstreamEvent[] = [];
      const slow = slowUpstream({ intervalMs: 10, chunks: 10, onEvent: (e) => upstreamEvents.push(e) });
      let upstreamBytes = 0;
      const counting: RequestHandler = (req, res, ctx) => {
        const write = res.write.bind(res) as (chunk: string | Buffer) => boolean;
        res.write = ((chunk: string | Buffer) => {
          upstreamBytes += chunk.length;
          return write(chunk);
        }) as typeof res.write;
        return slow(req, res, ctx);
      };
      const upstream = await n.start((s: TaskStatus<HttpService>) => serveHttp(counting, { name: "upstream" }, s));
      const limits = { ...DEFAULT_LIMITS, readTimeoutMs: 300, ...opts.limits };
      const proxy = await n.start((s: TaskStatus<HttpService>) =>
        serveHttp(
          proxyHandler({ ...limits, upstream: opts.upstreamUrl ?? new URL(upstream.url), onEvent: (e) => proxyEvents.push(e) }),
          { name: "proxy", highWaterMark: limits.chunkSize },
          s,
        ),
      );
      try {
        return await body({ proxy, upstream, proxyEvents, upstreamEvents, upstreamBytes: () => upstreamBytes });
      } finally {
        n.cancelScope.cancel(); // shut both servers down
      }
    });
    const s = currentStatistics();
    expect({ tasks: s.tasksLiving, parked: s.waitersParked, deadlines: s.pendingDeadlines, foreign: s.foreignWaits }).toEqual(
      { tasks: 1, parked: 0, deadlines: 0, foreign: 0 },
    );
    return result;
  });
}

interface Reply {
  status: number;
  body: string;
  trailers: NodeJS.Dict<string>;
}

/** GET on a fresh connection; resolves with the whole body once the response has ended cleanly. */
function get(url: string): Promise<Reply> {
  return cancellable(
    (signal) =>
      new Promise<Reply>((resolve, reject) => {
        const req = http.get(url, { agent: false, signal }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode!, body, trailers: res.trailers }));
          res.on("error", reject);
        });
        req.on("error", reject);
      }),
  );
}

function connections(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
}

/** Polls (every 5 ms) until `done()` is true, failing with TooSlowError after `ms`. */
function waitUntil(ms: number, done: () => boolean | Promise<boolean>): Promise<void> {
  return failAfter(ms, async () => {
    while (!(await done())) await sleep(5);
  });
}

const lines = (from: number, to: number, total: number, size = 0): string => {
  let s = "";
  for (let i = from; i <= to; i++) s += upstreamLine(i, total, size);
  return s;
};

// ---- the proxy -----------------------------------------------------------------------------------

describe("http-streaming proxy (real sockets)", () => {
  test("a normal stream delivers every chunk, in order, and ends with X-Upstream-Status: complete", () =>
    withProxy({}, async ({ proxy, upstream, proxyEvents, upstreamEvents }) => {
      const reply = await get(`${proxy.url}/stream?chunks=10`);
      expect(reply.status).toBe(200);
      expect(reply.body).toBe(lines(1, 10, 10));
      expect(reply.trailers["x-upstream-status"]).toBe("complete");
      // Both servers log the end once their response has been flushed, which may be after the client saw it.
      await waitUntil(1000, () => proxyEvents.length === 4 && upstreamEvents.length === 2);
      expect(proxyEvents.map((e) => e.type)).toEqual(["request", "upstream-response", "producer-exit", "response-end"]);
      expect(proxyEvents[2]).toMatchObject({ outcome: "complete", bytes: reply.body.length });
      expect(upstreamEvents.map((e) => e.type)).toEqual(["request", "finished"]);
      // One connection per upstream request, closed at its end ("Connection: close").
      await waitUntil(1000, async () => (await connections(proxy.server)) + (await connections(upstream.server)) === 0);
    }));

  test("a large fast stream (2 MB in 50 kB writes) arrives intact through the 16 KiB pieces", () =>
    withProxy({}, async ({ proxy, proxyEvents }) => {
      const reply = await get(`${proxy.url}/big?chunks=40&size=50000&interval=0`);
      expect(reply.body.length).toBe(40 * 50_000);
      expect(reply.body === lines(1, 40, 40, 50_000)).toBe(true); // no 2 MB diff on failure
      expect(reply.trailers["x-upstream-status"]).toBe("complete");
      await waitUntil(1000, () => proxyEvents.some((e) => e.type === "response-end"));
      expect(proxyEvents.find((e) => e.type === "response-end")).toMatchObject({ outcome: "complete", bytes: 2_000_000 });
    }));

  test("backpressure: a client that stops reading stops the upstream (200 MB offered, < 50 MB sent)", () =>
    withProxy({}, async ({ proxy, upstreamBytes }) => {
      let req: http.ClientRequest | undefined;
      try {
        await cancellable(
          (signal) =>
            new Promise<void>((resolve, reject) => {
              req = http.get(`${proxy.url}/big?chunks=4000&size=50000&interval=0`, { agent: false, signal }, (res) => {
                res.pause(); // read nothing more
                resolve();
              });
              req.on("error", (e) => (req!.destroyed ? undefined : reject(e)));
            }),
        );
        // Wait until the upstream has stopped writing: only kernel socket buffers and the proxy's few
        // chunks are in flight. Without backpressure the proxy would pull all 200 MB into memory.
        let last = -1;
        await waitUntil(5000, async () => {
          const now = upstreamBytes();
          const stable = now === last;
          last = now;
          if (!stable) await sleep(200);
          return stable;
        });
        expect(last).toBeGreaterThan(0);
        expect(last).toBeLessThan(50_000_000);
      } finally {
        req?.destroy();
      }
    }));

  test("client disconnect mid-stream: the producer and the upstream stop within 1 s, nothing is left", () =>
    withProxy({}, async ({ proxy, upstream, proxyEvents, upstreamEvents }) => {
      const quiet = currentStatistics();
      // A client that reads three lines of a 1000-line stream and hangs up.
      const received = await cancellable(
        (signal) =>
          new Promise<string>((resolve, reject) => {
            const req = http.get(`${proxy.url}/stream?chunks=1000`, { agent: false, signal }, (res: IncomingMessage) => {
              let body = "";
              res.setEncoding("utf8");
              res.on("data", (d: string) => {
                body += d;
                if (body.split("\n").length > 3) {
                  req.destroy();
                  resolve(body);
                }
              });
            });
            req.on("error", (e) => (req.destroyed ? undefined : reject(e)));
          }),
      );
      expect(received.startsWith(lines(1, 3, 1000))).toBe(true);

      await waitUntil(1000, () =>
        proxyEvents.some((e) => e.type === "response-end") && upstreamEvents.some((e) => e.type === "aborted"),
      );
      expect(proxyEvents.find((e) => e.type === "producer-exit")).toMatchObject({ outcome: "cancelled" });
      expect(proxyEvents.find((e) => e.type === "response-end")).toMatchObject({ outcome: "client-gone" });
      const aborted = upstreamEvents.find((e) => e.type === "aborted")!;
      expect(aborted.sent).toBeLessThan(1000);

      // No connection left on either server, and the runtime is back to where it was before the request.
      await waitUntil(1000, async () => (await connections(proxy.server)) + (await connections(upstream.server)) === 0);
      const now = currentStatistics();
      expect({ tasks: now.tasksLiving, parked: now.waitersParked, deadlines: now.pendingDeadlines, foreign: now.foreignWaits })
        .toEqual({ tasks: quiet.tasksLiving, parked: quiet.waitersParked, deadlines: quiet.pendingDeadlines, foreign: quiet.foreignWaits });
    }));

  test("a stalled upstream hits the per-read timeout: the client gets what arrived, cleanly ended", () =>
    withProxy({ limits: { readTimeoutMs: 300 } }, async ({ proxy, proxyEvents, upstreamEvents }) => {
      const reply = await get(`${proxy.url}/stream?chunks=10&stallAfter=3`);
      expect(reply.status).toBe(200);
      expect(reply.body).toBe(lines(1, 3, 10));
      expect(reply.trailers["x-upstream-status"]).toBe("read-timeout");
      expect(proxyEvents.find((e) => e.type === "producer-exit")).toMatchObject({ outcome: "read-timeout", reads: 3 });
      // The proxy closed the upstream connection, and the stalled upstream handler saw it.
      await waitUntil(1000, () => upstreamEvents.some((e) => e.type === "aborted"));
      expect(upstreamEvents.map((e) => e.type)).toEqual(["request", "stalled", "aborted"]);
    }));

  test("an unreachable upstream: 502 with a one-line reason", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    await withProxy({ upstreamUrl: new URL(`http://127.0.0.1:${closedPort}`) }, async ({ proxy, proxyEvents }) => {
      const reply = await get(`${proxy.url}/stream`);
      expect(reply.status).toBe(502);
      expect(reply.body).toBe(`upstream http://127.0.0.1:${closedPort}: connect ECONNREFUSED 127.0.0.1:${closedPort}\n`);
      expect(proxyEvents.map((e) => e.type)).toEqual(["request", "producer-exit", "upstream-failed"]);
    });
  });

  test("an upstream that accepts the connection and never answers: 504 after the read timeout", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.resume(); // read (and drop) the request, so that the proxy's close is noticed
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const url = new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
      await withProxy({ upstreamUrl: url, limits: { readTimeoutMs: 200 } }, async ({ proxy }) => {
        const reply = await get(`${proxy.url}/stream`);
        expect(reply.status).toBe(504);
        expect(reply.body).toBe(`upstream ${url.origin}: no answer within 200 ms\n`);
        await waitUntil(1000, () => sockets.size === 0); // the proxy aborted its request
      });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test("shutting the proxy down ends the requests in flight with X-Upstream-Status: cancelled", async () => {
    let reply: Reply | undefined;
    await run(() =>
      openNursery(async (n) => {
        const upstream = await n.start((s: TaskStatus<HttpService>) =>
          serveHttp(slowUpstream({ intervalMs: 10, chunks: 10 }), { name: "upstream" }, s),
        );
        await openNursery(async (clients) => {
          await openNursery(async (servers) => {
            const proxy = await servers.start((s: TaskStatus<HttpService>) =>
              serveHttp(proxyHandler({ ...DEFAULT_LIMITS, upstream: new URL(upstream.url) }), { name: "proxy" }, s),
            );
            clients.startSoon(async () => {
              reply = await get(`${proxy.url}/stream?chunks=1000`);
            });
            await sleep(100);
            servers.cancelScope.cancel(); // what SIGINT does in main.ts
          });
        }); // the client has its whole reply
        n.cancelScope.cancel();
      }),
    );
    expect(reply!.status).toBe(200);
    expect(reply!.trailers["x-upstream-status"]).toBe("cancelled");
    expect(reply!.body.length).toBeGreaterThan(0);
    expect(reply!.body.endsWith("\n")).toBe(true);
  });
});

// ---- the CLI -------------------------------------------------------------------------------------

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// tsx as a loader in one process, not the tsx CLI: the CLI runs the script in a child process, and on
// SIGINT it waits only 30 ms (twice) for the child to acknowledge the signal before SIGKILLing it and
// exiting 130, which a loaded machine can miss. A terminal's Ctrl-C reaches a single process directly.
const tsxLoader = pathToFileURL(path.join(root, "node_modules/tsx/dist/loader.mjs")).href;
const mainTs = path.join(root, "examples/http-streaming/main.ts");

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns main.ts in its own process group (a signal goes to the group, as a terminal's Ctrl-C does). */
function spawnMain(args: string[]): { child: ChildProcess; exit: Promise<Exit>; output: () => string } {
  const child = spawn(process.execPath, ["--import", tsxLoader, "--conditions=quartet-source", mainTs, ...args], {
    cwd: root,
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<Exit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { child, exit, output: () => stdout };
}

/** Waits for `p`, killing the process group if it takes more than `ms`. */
async function within<T>(ms: number, child: ChildProcess, p: Promise<T>): Promise<T> {
  const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), ms);
  try {
    return await p;
  } finally {
    clearTimeout(timer);
  }
}

describe("main.ts", () => {
  test.each([
    [["--upstream", "http://127.0.0.1:1"], 1, /^http-streaming: cannot reach upstream http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED 127\.0\.0\.1:1\n$/],
    [["--port", "99999"], 2, /^http-streaming: --port must be an integer in 0\.\.65535, got "99999"\n$/],
    [["--upstream", "localhost:80"], 2, /^http-streaming: --upstream must be an http:\/\/ URL, got "localhost:80"\n$/],
  ])("bad input %j: one line on stderr, exit %i", async (args, code, message) => {
    const { child, exit } = spawnMain(args);
    const result = await within(10_000, child, exit);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(code);
  });

  test("a port in use: one line on stderr, exit 1", async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const { child, exit } = spawnMain(["--port", String(port)]);
      const result = await within(10_000, child, exit);
      expect(result.stderr).toBe(`http-streaming: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
      expect(result.code).toBe(1);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  test("Ctrl-C with a request in flight: the response ends cleanly, the process exits 0", async () => {
    const { child, exit, output } = spawnMain(["--interval", "20"]);
    await within(10_000, child, (async () => {
      while (!/proxy: +http:\/\/127\.0\.0\.1:\d+/.test(output())) await new Promise((r) => setTimeout(r, 20));
    })());
    const proxyUrl = /proxy: +(http:\/\/127\.0\.0\.1:\d+)/.exec(output())![1]!;
    const reply = new Promise<Reply>((resolve, reject) => {
      http
        .get(`${proxyUrl}/stream?chunks=1000`, { agent: false }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            if (body === "") process.kill(-child.pid!, "SIGINT"); // the first line is in: Ctrl-C
            body += d;
          });
          res.on("end", () => resolve({ status: res.statusCode!, body, trailers: res.trailers }));
          res.on("error", reject);
        })
        .on("error", reject);
    });
    const [r, result] = await within(10_000, child, Promise.all([reply, exit]));
    expect(r.trailers["x-upstream-status"]).toBe("cancelled");
    expect(r.body.startsWith(lines(1, 1, 1000))).toBe(true);
    expect(result.stdout).toMatch(/SIGINT: closing the servers/);
    expect(result.stdout).toMatch(/stopped\n$/);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });
});
