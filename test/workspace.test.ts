// Checks the shape of the published packages: what package.json promises
// (ESM, no runtime dependencies but @quartet/*, exports conditions in the
// order types -> quartet-source -> default) and that the type-check's `paths`
// (tsconfig.source.json) map every export to the same source file.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const names = readdirSync(`${root}packages`).filter((n) =>
  existsSync(`${root}packages/${n}/package.json`),
);

const sourceConfig = ts.parseConfigFileTextToJson(
  "tsconfig.source.json",
  readFileSync(`${root}tsconfig.source.json`, "utf8"),
);
const paths = sourceConfig.config.compilerOptions.paths as Record<string, string[]>;

test("the three packages are there", () => {
  expect(names.sort()).toEqual(["channels", "core", "testing"]);
});

describe.each(names)("packages/%s", (name) => {
  const dir = `${root}packages/${name}`;
  const pkg = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));

  test("package.json basics", () => {
    expect(pkg.name).toBe(`@quartet/${name}`);
    expect(pkg.type).toBe("module");
    expect(pkg.version).toBe("0.1.0");
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.files).toEqual(["dist"]);
    for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) {
      expect(dep).toMatch(/^@quartet\//);
      expect(range).toBe("workspace:*");
    }
    expect(pkg.peerDependencies).toBeUndefined();
  });

  test("exports: types, quartet-source, default, in that order", () => {
    const entries = Object.entries(pkg.exports as Record<string, Record<string, string>>);
    expect(entries.length).toBeGreaterThan(0);
    for (const [subpath, conditions] of entries) {
      const entry = subpath === "." ? "index" : subpath.slice(2);
      expect(conditions).toEqual({
        types: `./dist/${entry}.d.ts`,
        "quartet-source": `./src/${entry}.ts`,
        default: `./dist/${entry}.js`,
      });
      expect(Object.keys(conditions)).toEqual(["types", "quartet-source", "default"]);
      expect(existsSync(`${dir}/src/${entry}.ts`)).toBe(true);
      const specifier = subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
      expect(paths[specifier]).toEqual([`./packages/${name}/src/${entry}.ts`]);
    }
  });
});

test("tsconfig.source.json maps no specifier that is not exported", () => {
  const exported = names.flatMap((name) => {
    const pkg = JSON.parse(readFileSync(`${root}packages/${name}/package.json`, "utf8"));
    return Object.keys(pkg.exports).map((s) => (s === "." ? pkg.name : `${pkg.name}/${s.slice(2)}`));
  });
  expect(Object.keys(paths).sort()).toEqual(exported.sort());
});
