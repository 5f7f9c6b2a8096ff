#!/usr/bin/env node
// Builds the workspace package in the current directory (run as `pnpm run build`
// inside packages/<name>):
//   1. esbuild bundles every entry of the package's `exports` map (the
//      `quartet-source` target, ./src/<entry>.ts) to its `default` target
//      (./dist/<entry>.js): ESM, platform node, target node20, with
//      `@quartet/*` and `node:*` left external, plus source maps. All entries
//      of one package go through ONE esbuild call with code splitting, so that
//      modules shared by several entries (core's runtime state, used by both
//      `.` and `./lowlevel`) exist once in a shared chunk instead of being
//      duplicated into each entry file.
//   2. `tsc -p tsconfig.build.json` writes the declarations (./dist/<entry>.d.ts).
//   3. Every `types` and `default` target of the exports map must now exist.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { build } from "esbuild";

const pkgDir = process.cwd();
const pkg = JSON.parse(readFileSync(path.join(pkgDir, "package.json"), "utf8"));
const require = createRequire(import.meta.url);

function fail(message) {
  console.error(`build-package(${pkg.name}): ${message}`);
  process.exit(1);
}

if (!pkg.exports || typeof pkg.exports !== "object") fail("package.json has no exports map");

const entryPoints = [];
for (const [subpath, conditions] of Object.entries(pkg.exports)) {
  const source = conditions["quartet-source"];
  const output = conditions.default;
  if (typeof source !== "string" || typeof output !== "string" || typeof conditions.types !== "string") {
    fail(`exports["${subpath}"] needs string "types", "quartet-source" and "default" targets`);
  }
  const m = /^\.\/dist\/(.+)\.js$/.exec(output);
  if (!m) fail(`exports["${subpath}"].default must look like ./dist/<entry>.js, got ${output}`);
  if (!existsSync(path.join(pkgDir, source))) fail(`missing source ${source} for exports["${subpath}"]`);
  entryPoints.push({ in: source, out: m[1] });
}

rmSync(path.join(pkgDir, "dist"), { recursive: true, force: true });

await build({
  absWorkingDir: pkgDir,
  entryPoints,
  outdir: "dist",
  bundle: true,
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["@quartet/*", "node:*"],
  sourcemap: true,
  logLevel: "warning",
});

const tsc = require.resolve("typescript/bin/tsc");
const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
  cwd: pkgDir,
  stdio: "inherit",
});
if (result.status !== 0) fail(`tsc -p tsconfig.build.json exited with ${result.status ?? result.signal}`);

for (const [subpath, conditions] of Object.entries(pkg.exports)) {
  for (const key of ["types", "default"]) {
    if (!existsSync(path.join(pkgDir, conditions[key]))) {
      fail(`exports["${subpath}"].${key} -> ${conditions[key]} was not produced`);
    }
  }
}
console.log(`build-package(${pkg.name}): ${entryPoints.map((e) => e.out).join(", ")} -> dist/`);
