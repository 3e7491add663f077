import { describe, expect, it } from "vitest";
import { jsonObject, positiveInt } from "../../src/cli/arguments.js";
import { BadRequestError } from "../../src/errors/index.js";

describe("CLI option parsers name the flag that was wrong", () => {
  it("takes a JSON object and refuses other JSON or text that is not JSON", () => {
    expect(jsonObject('{"typ":"JWT"}', "--header")).toEqual({ typ: "JWT" });
    expect(() => jsonObject("{typ:JWT}", "--header")).toThrow(
      new BadRequestError("--header must be a JSON object, got text that is not JSON"),
    );
    for (const other of ["[1]", "null", '"x"', "3"]) {
      expect(() => jsonObject(other, "--header")).toThrow("--header must be a JSON object");
    }
  });

  it("takes positive whole numbers only", () => {
    expect(positiveInt("3", "--limit")).toBe(3);
    expect(() => positiveInt("0", "--limit")).toThrow('--limit must be a positive whole number, got "0"');
  });
});
