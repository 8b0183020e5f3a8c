import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileTokenProvider, readClientSecurity } from "./security-settings.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "client-security-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("fileTokenProvider", () => {
  it("re-reads the file when it changes, at most every recheckMs, and keeps the token while the file is empty", () => {
    const file = join(dir, "token.jwt");
    writeFileSync(file, "  first.token.a\n");
    let now = 0;
    const token = fileTokenProvider(file, { recheckMs: 1000, now: () => now });
    expect(token()).toBe("first.token.a");
    writeFileSync(file, "second.token.bb\n");
    now = 999;
    expect(token()).toBe("first.token.a"); // not checked yet
    now = 1000;
    expect(token()).toBe("second.token.bb");
    writeFileSync(file, ""); // half-written
    now = 2000;
    expect(token()).toBe("second.token.bb");
    writeFileSync(file, "third.token.ccc");
    now = 3000;
    expect(token()).toBe("third.token.ccc");
    rmSync(file); // being replaced
    now = 4000;
    expect(token()).toBe("third.token.ccc");
  });

  it("refuses a missing or empty file at once", () => {
    expect(() => fileTokenProvider(join(dir, "nope.jwt"))).toThrow(/ENOENT/);
    writeFileSync(join(dir, "empty.jwt"), "\n");
    expect(() => fileTokenProvider(join(dir, "empty.jwt"))).toThrow(/is empty/);
  });
});

describe("readClientSecurity", () => {
  it("gives createOrderlyTransport's tls and token options from files", () => {
    writeFileSync(join(dir, "ca.crt"), "CA");
    writeFileSync(join(dir, "token.jwt"), "a.b.c\n");
    const security = readClientSecurity({ caFile: join(dir, "ca.crt"), tokenFile: join(dir, "token.jwt") });
    expect(security?.tls?.ca?.toString()).toBe("CA");
    expect(security?.token?.()).toBe("a.b.c");
    expect(security?.tokenSource).toBe("file");
    expect(readClientSecurity({})).toBeUndefined();
  });
});
