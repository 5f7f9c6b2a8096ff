// Tests may use `using` / `await using` although Node 20 cannot parse them:
// vitest's transform lowers them (see vitest.config.ts).
import { expect, test } from "vitest";

test("using and await using declarations dispose in reverse order", async () => {
  const log: string[] = [];
  {
    await using outer = { async [Symbol.asyncDispose]() { log.push("outer disposed"); } };
    using inner = { [Symbol.dispose]() { log.push("inner disposed"); } };
    log.push("body");
    expect([outer, inner]).toHaveLength(2);
  }
  expect(log).toEqual(["body", "inner disposed", "outer disposed"]);
});
