// The README's "Set up" section promises two commands that work on a fresh
// machine; .ci/run must run the test command exactly as written there.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(`${root}README.md`, "utf8");
const ciRun = readFileSync(`${root}.ci/run`, "utf8");
const pkg = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { packageManager: string };

function setUpCommands(): string[] {
  const section = /^## Set up\n([\s\S]*?)(?=^## )/m.exec(readme);
  if (!section) throw new Error('README.md has no "## Set up" section');
  const blocks = [...section[1].matchAll(/^```sh\n([\s\S]*?)^```/gm)];
  return blocks.flatMap((b) => b[1].split("\n").filter((line) => line.trim() !== ""));
}

describe("README set-up commands", () => {
  const commands = setUpCommands();
  const pnpm = `npx ${pkg.packageManager}`;

  test("there are exactly two, using the pinned pnpm", () => {
    expect(commands).toEqual([
      `${pnpm} install && ${pnpm} example hello`,
      `${pnpm} install && ${pnpm} test`,
    ]);
  });

  test("the test command appears verbatim in .ci/run", () => {
    const testCommand = commands.find((c) => c.endsWith(" test"));
    expect(testCommand).toBeDefined();
    expect(ciRun).toContain(testCommand!);
  });

  test("the example it runs exists", () => {
    expect(existsSync(`${root}examples/hello/main.ts`)).toBe(true);
  });
});
