// Delivering batches over HTTP with fetch(), and checking a sink can be reached at all.
import { connect } from "node:net";
import { cancellable, failAfter, TooSlowError } from "@quartet/core";
import { type Batch, type Deliver, DeliveryError } from "./ship.js";

/**
 * A {@link Deliver} that POSTs each batch as JSON (`{ stream, seq, lines }`) to `url`, with an
 * `Idempotency-Key: <stream>:<seq>` header. A 2xx answer is success; 5xx, 408 and 429 are worth a
 * retry; any other status is a {@link DeliveryError} that stops the shipper (retrying a request the
 * sink rejects as malformed would never end). Network errors reject as fetch does, and are retried.
 *
 * Cancellation reaches the request through its signal, so `failAfter` around a call aborts the
 * connection and moves on at once.
 *
 * @example
 * ```ts
 * const deliver = httpDeliver("http://127.0.0.1:8080/logs");
 * await failAfter(1000, () => deliver({ stream: "s1", seq: 1, lines: ["hello"] }));
 * ```
 */
export function httpDeliver(url: string | URL): Deliver {
  const target = String(url);
  return async (batch: Batch) => {
    const response = await cancellable((signal) =>
      fetch(target, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": `${batch.stream}:${batch.seq}` },
        body: JSON.stringify(batch),
        signal,
      }),
    );
    // Read the answer to its end so the connection goes back to the pool.
    const text = await cancellable(response.text());
    if (response.ok) return;
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    const detail = text.length > 0 && text.length < 200 ? `: ${text.trim()}` : "";
    throw new DeliveryError(`POST ${target} answered ${response.status}${detail}`, retryable);
  };
}

/** The sink cannot be reached (before shipping starts). */
export class SinkUnreachableError extends Error {
  override name = "SinkUnreachableError";
}

/**
 * Opens (and closes) a TCP connection to the sink's host and port, so a wrong URL or a stopped sink
 * is reported at start instead of being retried forever. Throws {@link SinkUnreachableError}.
 *
 * @example
 * ```ts
 * await checkReachable(new URL("http://127.0.0.1:1/"), 2000); // SinkUnreachableError: … ECONNREFUSED
 * ```
 */
export async function checkReachable(url: URL, timeoutMs: number): Promise<void> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1"); // IPv6 literals come bracketed
  const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  try {
    await failAfter(timeoutMs, () =>
      cancellable(
        (signal) =>
          new Promise<void>((resolve, reject) => {
            const socket = connect({ host, port });
            const onAbort = () => socket.destroy();
            signal.addEventListener("abort", onAbort, { once: true });
            socket.once("connect", () => {
              signal.removeEventListener("abort", onAbort);
              socket.destroy();
              resolve();
            });
            socket.once("error", (e) => {
              signal.removeEventListener("abort", onAbort);
              reject(e);
            });
          }),
      ),
    );
  } catch (e) {
    if (e instanceof TooSlowError) throw new SinkUnreachableError(`sink ${url.href} is unreachable: no connection within ${timeoutMs} ms`);
    if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string") {
      throw new SinkUnreachableError(`sink ${url.href} is unreachable: ${e.message}`);
    }
    throw e;
  }
}
