import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const protoDir = join(root, "proto");
const buf = join(root, "node_modules/.bin/buf");

describe("the protobuf contract", () => {
  it("loads in a @grpc/grpc-js + proto-loader client with only proto/ as include path", async () => {
    const definition = await protoLoader.load(
      ["orderly/orders/v1/commands.proto", "orderly/orders/v1/queries.proto", "orderly/orders/v1/events.proto"],
      { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: true },
    );
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      orderly: { orders: { v1: Record<string, { service?: Record<string, { path: string }> }> } };
    };
    const v1 = loaded.orderly.orders.v1;
    expect(Object.values(v1.CommandService?.service ?? {}).map((m) => m.path)).toEqual([
      "/orderly.orders.v1.CommandService/CreateOrder",
      "/orderly.orders.v1.CommandService/UpdatePaymentStatus",
      "/orderly.orders.v1.CommandService/ShipOrder",
      "/orderly.orders.v1.CommandService/CancelOrder",
    ]);
    expect(Object.values(v1.QueryService?.service ?? {}).map((m) => m.path)).toEqual([
      "/orderly.orders.v1.QueryService/GetOrderSummary",
      "/orderly.orders.v1.QueryService/ListCustomerOrders",
      "/orderly.orders.v1.QueryService/WaitForPosition",
    ]);
    expect(definition["orderly.orders.v1.EventEnvelope"]).toBeDefined();
  });

  it("is lint-clean under buf STANDARD", async () => {
    await expect(run(buf, ["lint", protoDir])).resolves.toBeDefined();
  });

  it("makes buf breaking fail when a field number changes", async () => {
    const scratch = await mkdtemp(join(tmpdir(), "orderly-proto-"));
    await cp(protoDir, join(scratch, "before"), { recursive: true });
    await cp(protoDir, join(scratch, "after"), { recursive: true });
    const file = join(scratch, "after/orderly/orders/v1/types.proto");
    const source = await readFile(file, "utf8");
    const changed = source.replace("int64 position = 4;", "int64 position = 14;");
    expect(changed).not.toBe(source);
    await writeFile(file, changed);

    await expect(
      run(buf, ["breaking", join(scratch, "before"), "--against", join(scratch, "before")]),
    ).resolves.toBeDefined();
    const failure = await run(buf, ["breaking", join(scratch, "after"), "--against", join(scratch, "before")]).then(
      () => undefined,
      (error: { code: number; stdout: string }) => error,
    );
    expect(failure?.code).not.toBe(0);
    expect(failure?.stdout).toMatch(/CommandAccepted/);
  });
});
