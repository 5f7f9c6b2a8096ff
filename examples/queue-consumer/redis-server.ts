/**
 * A private, throw-away `redis-server`: started on a free loopback port with persistence off (nothing
 * is written to disk), stopped when the block that uses it ends, however it ends. The example and its
 * test use it so that they talk to the real server without needing one to be running.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { CancelScope, cancellable } from "@quartet/core";

/** A running private `redis-server`. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The server's version, from its start-up banner (`7.0.15`). */
  readonly version: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
}

/** The server could not be started: the binary is missing, it exited, or it did not become ready. */
export class RedisServerError extends Error {
  override name = "RedisServerError";
}

export interface StartRedisServerOptions {
  /** The executable (default `redis-server`, looked up on PATH). */
  binary?: string;
  /** How long to wait for "Ready to accept connections" (default 10 000 ms). */
  startTimeoutMs?: number;
  /** Aborting it kills the server being started and rejects. */
  signal?: AbortSignal;
}

/** A port nobody listens on right now (the OS picks it). Another process could take it before
 * redis-server binds it, so `startRedisServer` retries on "Address already in use". */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/**
 * Starts `redis-server --port <free> --bind 127.0.0.1 --save "" --appendonly no` as a child process
 * (which never outlives this one) and resolves once it accepts connections. A plain Node function
 * (no Quartet needed); from Quartet code prefer `withRedisServer`, which also guarantees the stop.
 *
 * @example
 * ```ts
 * const server = await startRedisServer();
 * try { await useRedis(server.url); } finally { await server.stop(); }
 * ```
 */
export async function startRedisServer(opts: StartRedisServerOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(await freePort(), opts);
    } catch (e) {
      if (!(e instanceof PortTakenError) || attempt === 3) throw e;
    }
  }
}

class PortTakenError extends RedisServerError {}

// The server runs under a tiny shell, in a process group of its own:
// - its own group, so that a Ctrl-C in the terminal (SIGINT to the whole foreground group) does not
//   kill it while the consumer still needs it to acknowledge during its graceful shutdown;
// - the shell kills it when its stdin reaches end-of-file, which happens when we close our end of the
//   pipe (stop()) and also when this process dies in any way (even SIGKILL): the server never outlives us.
// (A background job's stdin is /dev/null unless redirected, hence the copy of stdin as fd 3.)
const WATCHDOG = 'exec 3<&0; "$@" & pid=$!; (read _ <&3; kill $pid) >/dev/null 2>&1 & wait $pid';

function startOnce(port: number, opts: StartRedisServerOptions): Promise<RedisServer> {
  const binary = opts.binary ?? "redis-server";
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  opts.signal?.throwIfAborted();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmpdir()];
  const child = spawn("/bin/sh", ["-c", WATCHDOG, "sh", binary, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      child.stdin!.end(); // the watchdog sends SIGTERM
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    })());

  return new Promise<RedisServer>((resolve, reject) => {
    let output = "";
    const fail = (err: Error): void => {
      cleanup();
      void stop().then(() => reject(err));
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      if (/Ready to accept connections/.test(output)) {
        cleanup();
        // Keep draining the pipes so a chatty server never blocks on a full one.
        child.stdout!.resume();
        child.stderr!.resume();
        const version = /Redis version=([0-9.]+)/.exec(output)?.[1] ?? "?";
        resolve({ url: `redis://127.0.0.1:${port}`, port, version, stop });
      }
    };
    const onError = (err: Error): void => fail(new RedisServerError(`cannot start ${binary}: ${err.message}`));
    const onClose = (code: number | null): void => {
      if (code === 127 || code === 126) {
        fail(
          new RedisServerError(
            `${binary} not found: install it (Debian: apt-get install redis-server) or pass --redis redis://host:port`,
          ),
        );
        return;
      }
      const last = output.trim().split("\n").at(-1) ?? "";
      const msg = `${binary} exited (code ${code}) before accepting connections${last ? `: ${last.trim()}` : ""}`;
      fail(/already in use/i.test(output) ? new PortTakenError(msg) : new RedisServerError(msg));
    };
    const onAbort = (): void => fail(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error("aborted"));
    const timer = setTimeout(
      () => fail(new RedisServerError(`${binary} did not accept connections within ${timeoutMs} ms`)),
      timeoutMs,
    );
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.stderr!.off("data", onData);
      child.off("error", onError);
      child.off("close", onClose);
      opts.signal?.removeEventListener("abort", onAbort);
    }
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("error", onError);
    child.on("close", onClose);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn` with a private redis-server and stops the server when `fn` ends: on success, on error
 * and on cancellation (the stop is shielded, so a cancelled caller still waits for the process to go).
 *
 * @example
 * ```ts
 * await withRedisServer(async (server) => {
 *   const redis = await connectRedis(server.url);
 *   // …
 * });
 * ```
 */
export async function withRedisServer<T>(
  fn: (server: RedisServer) => Promise<T>,
  opts: Omit<StartRedisServerOptions, "signal"> = {},
): Promise<T> {
  // The signal kills a half-started server if we are cancelled meanwhile.
  const server = await cancellable((signal) => startRedisServer({ ...opts, signal }));
  try {
    return await fn(server);
  } finally {
    await new CancelScope({ shield: true }).run(() => cancellable(server.stop()));
  }
}
