// Runs one contender of one workload in this (fresh) process and prints its result as JSON.
// Usage: node --expose-gc child.mjs <workload file> <workload id> <contender>
import { pathToFileURL } from "node:url";

const [file, id, contender] = process.argv.slice(2);
const mod = await import(pathToFileURL(file).href);
const workload = mod.workloads.find((w) => w.id === id);
if (!workload) throw new Error(`no workload ${id} in ${file}`);
const c = workload.contenders[contender];
if (!c) throw new Error(`no contender ${contender} in ${id}`);
if (c.kind === "peer") await mod.loadPeers?.();
const out = await c.run();
const result = typeof out === "number" ? { value: out } : out;
process.stdout.write(`\nRESULT ${JSON.stringify(result)}\n`);
process.exit(0);
