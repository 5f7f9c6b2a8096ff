// This package's tests use the helpers shared by every package (test/support/quartet.ts).
export * from "../../../test/support/quartet.js";
