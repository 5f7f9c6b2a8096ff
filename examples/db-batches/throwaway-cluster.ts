/**
 * Test support: a throwaway PostgreSQL cluster from the machine's own binaries, in a temporary folder,
 * listening on 127.0.0.1 on a free port, with password (SCRAM) authentication for TCP connections.
 * `initdb` and `postgres` refuse to run as root, so as root they run as the `postgres` OS user
 * (Node's `spawn` with `uid`/`gid`, which also drops root's supplementary groups).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

/** A running cluster. */
export interface ThrowawayCluster {
  readonly port: number;
  /** The superuser, `test`, and its password. */
  readonly user: string;
  readonly password: string;
  /** `postgres://test:<password>@127.0.0.1:<port>/<database>` (other credentials for bad-input tests). */
  url(opts?: { user?: string; password?: string; database?: string }): string;
  /** Fast shutdown, then deletes the folder. */
  stop(): Promise<void>;
}

interface Setup {
  bin: string;
  ids: { uid: number; gid: number } | undefined;
}

function findBinDir(): string | undefined {
  const fromEnv = process.env.PG_BINDIR;
  const candidates: string[] = fromEnv ? [fromEnv] : [];
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(path.join(root, v, "bin"));
  }
  candidates.push("/usr/local/pgsql/bin", "/usr/bin");
  return candidates.find((d) => existsSync(path.join(d, "initdb")) && existsSync(path.join(d, "postgres")));
}

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === "postgres") return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no /etc/passwd: not a system we can start a cluster on as root
  }
  return undefined;
}

/**
 * Why a cluster cannot be started here (for the test's skip message), or the binaries and the user
 * to run them as.
 */
export function clusterSetup(): Setup | string {
  const bin = findBinDir();
  if (bin === undefined) return "no PostgreSQL server binaries (initdb, postgres) found; set PG_BINDIR to point at them";
  if (process.getuid?.() !== 0) return { bin, ids: undefined };
  const ids = postgresUser();
  if (ids === undefined) return "running as root and there is no 'postgres' OS user to run initdb/postgres as";
  return { bin, ids };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function runToEnd(setup: Setup, cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(setup.bin, cmd), args, {
      cwd,
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH, LANG: "C", LC_ALL: "C" },
      ...setup.ids,
    });
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} failed (${code ?? signal}): ${err.trim()}`)),
    );
  });
}

/** Starts `postgres` and resolves once it accepts connections (or rejects with its log). */
function startServer(setup: Setup, dir: string, port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(setup.bin, "postgres"),
      // Durability is of no use in a throwaway cluster; these make start-up and writes fast.
      ["-D", path.join(dir, "data"), "-k", dir, "-p", String(port), "-c", "listen_addresses=127.0.0.1",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH, LANG: "C", LC_ALL: "C" }, ...setup.ids },
    );
    let log = "";
    let ready = false;
    const timer = setTimeout(() => {
      child.kill("SIGQUIT");
      reject(new Error(`postgres did not become ready within 30 s: ${log.trim()}`));
    }, 30_000);
    // Always drain the log: a full pipe would block the server.
    child.stderr!.on("data", (c: Buffer) => {
      log = (log + c.toString()).slice(-8000);
      if (!ready && log.includes("database system is ready to accept connections")) {
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`postgres exited (${code ?? signal}) before it was ready: ${log.trim()}`));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Creates and starts a cluster (initdb takes a few seconds). Throws if that fails; check
 * `clusterSetup()` first to skip cleanly where it cannot work.
 */
export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const setup = clusterSetup();
  if (typeof setup === "string") throw new Error(setup);
  // As root the folder must be reachable by the postgres user: /tmp is, a private TMPDIR may not be.
  const dir = mkdtempSync(path.join(setup.ids !== undefined ? "/tmp" : tmpdir(), "db-batches-pg-"));
  let server: ChildProcess | undefined;
  const killOnExit = () => server?.kill("SIGQUIT");
  try {
    chmodSync(dir, 0o700);
    const password = randomBytes(12).toString("hex");
    const pwfile = path.join(dir, "pwfile");
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (setup.ids !== undefined) {
      chownSync(dir, setup.ids.uid, setup.ids.gid);
      chownSync(pwfile, setup.ids.uid, setup.ids.gid);
    }
    await runToEnd(setup, "initdb", [
      "-D", path.join(dir, "data"), "-U", "test", `--pwfile=${pwfile}`,
      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions",
    ], dir);
    let port = 0;
    for (let attempt = 1; server === undefined; attempt++) {
      port = await freePort();
      try {
        server = await startServer(setup, dir, port);
      } catch (e) {
        // Another process may have taken the port between freePort() and the bind: try another one.
        if (attempt >= 3) throw e;
      }
    }
    // If the test process dies without afterAll, do not leave a server running.
    process.once("exit", killOnExit);
    const child = server;
    return {
      port,
      user: "test",
      password,
      url: (o = {}) =>
        `postgres://${encodeURIComponent(o.user ?? "test")}:${encodeURIComponent(o.password ?? password)}` +
        `@127.0.0.1:${port}/${encodeURIComponent(o.database ?? "postgres")}`,
      stop: async () => {
        process.off("exit", killOnExit);
        child.kill("SIGINT"); // fast shutdown: disconnect clients, roll back, stop
        if (!(await waitExit(child, 10_000))) {
          child.kill("SIGQUIT");
          await waitExit(child, 5_000);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    process.off("exit", killOnExit);
    if (server !== undefined) {
      server.kill("SIGQUIT");
      await waitExit(server, 5_000);
    }
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
