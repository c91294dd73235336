import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "./errors";
import { EVENT_NAMES } from "./events";
import { METHOD_NAMES } from "./methods";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("documents every method, event and error code", () => {
    for (const name of [...METHOD_NAMES, ...EVENT_NAMES, ...ERROR_CODES])
      expect(readme).toContain(`\`${name}\``);
  });
});
