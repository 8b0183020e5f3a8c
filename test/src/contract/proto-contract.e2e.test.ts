import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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
      [
        "orderly/orders/v1/commands.proto",
        "orderly/orders/v1/queries.proto",
        "orderly/orders/v1/events.proto",
        "orderly/orders/v1/event_service.proto",
      ],
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
    expect(Object.values(v1.EventService?.service ?? {}).map((m) => m.path)).toEqual([
      "/orderly.orders.v1.EventService/ReadEvents",
      "/orderly.orders.v1.EventService/SubscribeEvents",
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

  // The evolution policy of docs/events.md, as CI enforces it (proto/buf.yaml: breaking FILE, scripts/buf-breaking.sh).
  it("makes buf breaking fail when an event field is removed, and accepts additive changes", async () => {
    const scratch = await mkdtemp(join(tmpdir(), "orderly-proto-"));
    try {
      await cp(protoDir, join(scratch, "before"), { recursive: true });
      const variant = async (name: string, edit: (source: string) => string) => {
        await cp(protoDir, join(scratch, name), { recursive: true });
        const file = join(scratch, name, "orderly/orders/v1/events.proto");
        const source = await readFile(file, "utf8");
        const changed = edit(source);
        expect(changed, name).not.toBe(source);
        await writeFile(file, changed);
        const args = ["breaking", join(scratch, name), "--against", join(scratch, "before"), "--error-format", "json"];
        return run(buf, args).then(
          () => ({ code: 0, stdout: "" }),
          (error: { code: number; stdout: string }) => error,
        );
      };
      const removed = await variant("removed", (s) => s.replace(/\n\s*string tracking_number = 2;/, ""));
      expect(removed.code).not.toBe(0);
      expect(removed.stdout).toMatch(/OrderShipped/);
      expect(removed.stdout).toMatch(/FIELD_NO_DELETE/);
      const renamed = await variant("renamed", (s) => s.replace("string carrier = 1;", "string carrier_name = 1;"));
      expect(renamed.code).not.toBe(0);
      expect(renamed.stdout).toMatch(/FIELD_SAME_NAME/);
      const additive = await variant("additive", (s) =>
        s
          .replace("string tracking_number = 2;", "string tracking_number = 2;\n  string tracking_url = 3;")
          .concat(
            "\n// OrderReturned: a new event type.\nmessage OrderReturned {\n  // Why.\n  string reason = 1;\n}\n",
          ),
      );
      expect(additive).toEqual({ code: 0, stdout: "" });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
