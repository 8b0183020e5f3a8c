import { describe, expect, it } from "vitest";
import { parseFlags, usage } from "./own-servers.js";

describe("parseFlags", () => {
  it("reads --keep-servers, --no-servers and --data-dir; rejects anything else with the usage", () => {
    expect(parseFlags([])).toEqual({ keepServers: false, noServers: false, dataDir: undefined });
    expect(parseFlags(["--", "--keep-servers", "--data-dir", "/x"])).toEqual({
      keepServers: true,
      noServers: false,
      dataDir: "/x",
    });
    expect(parseFlags(["--no-servers", "--data-dir=/y"])).toEqual({
      keepServers: false,
      noServers: true,
      dataDir: "/y",
    });
    expect(parseFlags(["--help"])).toBe(usage);
    expect(parseFlags(["--bogus"])).toContain('unknown argument "--bogus"');
  });
});
