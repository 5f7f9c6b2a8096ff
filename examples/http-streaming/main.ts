// A slow upstream and a streaming proxy in front of it, on free ports, until Ctrl-C:
//   npx pnpm@10.34.8 example http-streaming [--port N] [--upstream URL] [--interval MS] [--read-timeout MS]
// With --upstream, the proxy forwards to that server instead of starting its own slow upstream.
// Ctrl-C (SIGINT) or SIGTERM: stop accepting, cancel the requests in flight (each response ends with
// the trailer X-Upstream-Status: cancelled), exit 0.
import net from "node:net";
import { cancellable, failAfter, openNursery, run, TooSlowError, type TaskStatus } from "@quartet/core";
import { DEFAULT_LIMITS, proxyHandler, type ProxyEvent } from "./proxy.js";
import { describeError, serveHttp, type HttpService } from "./serve-http.js";
import { slowUpstream, type UpstreamEvent } from "./upstream.js";

const USAGE = "usage: main.ts [--port N] [--upstream http://host:port] [--interval MS] [--read-timeout MS]";

function usageError(message: string): never {
  console.error(`http-streaming: ${message}`);
  process.exit(2);
}

interface Args {
  port: number;
  upstream: URL | undefined;
  intervalMs: number;
  readTimeoutMs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { port: 0, upstream: undefined, intervalMs: 200, readTimeoutMs: DEFAULT_LIMITS.readTimeoutMs };
  const int = (flag: string, raw: string | undefined, min: number, max: number): number => {
    const n = Number(raw);
    if (raw === undefined || raw.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
      usageError(`${flag} must be an integer in ${min}..${max}, got ${raw === undefined ? "nothing" : JSON.stringify(raw)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    i++;
    if (flag === "--port") args.port = int(flag, value, 0, 65535);
    else if (flag === "--interval") args.intervalMs = int(flag, value, 0, 60_000);
    else if (flag === "--read-timeout") args.readTimeoutMs = int(flag, value, 1, 600_000);
    else if (flag === "--upstream") {
      let url: URL | undefined;
      try {
        url = new URL(value ?? "");
      } catch {
        url = undefined;
      }
      if (url === undefined || url.protocol !== "http:") {
        usageError(`--upstream must be an http:// URL, got ${value === undefined ? "nothing" : JSON.stringify(value)}`);
      }
      args.upstream = url;
    } else usageError(`unknown argument ${JSON.stringify(flag)} (${USAGE})`);
  }
  return args;
}

/** Fails (with the reason) unless a TCP connection to the URL's host and port succeeds within 2 s. */
async function checkReachable(url: URL): Promise<void> {
  const port = Number(url.port || 80);
  try {
    await failAfter(2000, () =>
      cancellable(
        (signal) =>
          new Promise<void>((resolve, reject) => {
            const socket = net.connect({ host: url.hostname, port, signal });
            socket.once("connect", () => {
              socket.destroy();
              resolve();
            });
            socket.once("error", reject);
          }),
      ),
    );
  } catch (e) {
    const why = e instanceof TooSlowError ? "no connection within 2 s" : describeError(e);
    throw new Error(`cannot reach upstream ${url.origin}: ${why}`);
  }
}

const args = parseArgs(process.argv.slice(2));
const start = performance.now();
const stamp = (): string => `[${String(Math.round(performance.now() - start)).padStart(6)} ms]`;

function logProxy(e: ProxyEvent): void {
  const what =
    e.type === "request" ? `GET ${e.url}`
    : e.type === "upstream-response" ? `upstream answered ${e.status}, streaming`
    : e.type === "upstream-failed" ? `answered ${e.status}: ${e.error}`
    : e.type === "producer-exit" ? `producer exited: ${e.outcome} (${e.reads} upstream reads, ${e.bytes} bytes)`
    : e.outcome === "client-gone" ? `client went away after ${e.bytes} bytes`
    : `response ended: ${e.outcome}, ${e.bytes} bytes`;
  console.log(`${stamp()} proxy    #${e.id} ${what}`);
}

function logUpstream(e: UpstreamEvent): void {
  const what =
    e.type === "request" ? `GET ${e.url}`
    : e.type === "stalled" ? `stalling after ${e.sent} lines`
    : e.type === "finished" ? `sent all ${e.sent} lines`
    : `ABORTED by the proxy after ${e.sent} lines`;
  console.log(`${stamp()} upstream #${e.id} ${what}`);
}

async function main(): Promise<void> {
  await openNursery(async (n) => {
    let upstream = args.upstream;
    if (upstream === undefined) {
      const up = await n.start(
        (s: TaskStatus<HttpService>) => serveHttp(slowUpstream({ intervalMs: args.intervalMs, chunks: 20, onEvent: logUpstream }), { name: "upstream" }, s),
        { name: "upstream server" },
      );
      upstream = new URL(up.url);
      console.log(`upstream: ${up.url}/stream  (a line every ${args.intervalMs} ms; ?chunks=N&stallAfter=K&size=BYTES)`);
    } else {
      await checkReachable(upstream);
      console.log(`upstream: ${upstream.href}`);
    }
    const limits = { ...DEFAULT_LIMITS, readTimeoutMs: args.readTimeoutMs };
    const proxy = await n.start(
      (s: TaskStatus<HttpService>) =>
        serveHttp(proxyHandler({ ...limits, upstream, onEvent: logProxy }), {
          port: args.port,
          highWaterMark: limits.chunkSize,
          name: "proxy",
          onError: (e, ctx) => console.log(`${stamp()} proxy    #${ctx.id} failed: ${describeError(e)}`),
        }, s),
      { name: "proxy server" },
    );
    console.log(`proxy:    ${proxy.url}/stream  (chunks of ${limits.chunkSize} bytes, ${limits.channelSize} in the channel, ` +
      `${limits.readTimeoutMs} ms per upstream read)`);
    console.log(`try:      curl -N -i ${proxy.url}/stream   (-i also shows the X-Upstream-Status trailer)`);
    console.log(`          curl -N -i '${proxy.url}/stream?chunks=5&stallAfter=3'`);
    console.log("Ctrl-C to stop");
  });
}

const interrupt = new AbortController();
const stop = (signal: NodeJS.Signals): void => {
  if (interrupt.signal.aborted) return;
  console.log(`${stamp()} ${signal}: closing the servers, cancelling the requests in flight`);
  interrupt.abort(new Error(signal));
};
// `on`, not `once`: a second signal (tsx may relay one, or a user presses Ctrl-C twice) must not kill
// the process with the default action while it shuts down; the shutdown itself is bounded.
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
try {
  await run(main, { signal: interrupt.signal });
} catch (e) {
  if (interrupt.signal.aborted) {
    console.log(`${stamp()} stopped`);
    process.exit(0);
  }
  console.error(`http-streaming: ${describeError(e)}`);
  process.exit(1);
}
