import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync } from "@grpc/proto-loader";
import { describe, expect, it } from "vitest";
import { findProtoDir } from "./reflection.js";
import { type Client, eventually, failure, healthClient, serveCommandsAndQueries, unary } from "./server.fixture.js";

// What a client can discover and use without our code: health, reflection, a proto-loader client.
describe("GrpcServer", () => {
  const served = serveCommandsAndQueries();

  it("serves grpc.health.v1 Check and Watch to a standard client", async () => {
    const health = healthClient(served.port);
    expect(await unary(health, "check", { service: "" })).toEqual({ status: "SERVING" });
    expect(await unary(health, "check", { service: "orderly.orders.v1.CommandService" })).toEqual({
      status: "SERVING",
    });
    expect((await failure(unary(health, "check", { service: "nope.Service" }))).code).toBe(grpc.status.NOT_FOUND);

    const statuses: string[] = [];
    const watch = (health.watch as (r: unknown) => grpc.ClientReadableStream<{ status: string }>)({ service: "" });
    watch.on("data", (m: { status: string }) => statuses.push(m.status));
    watch.on("error", () => {});
    await eventually(() => statuses.length === 1, "the first status");
    served.server.setServing(false);
    await eventually(() => statuses.length === 2, "NOT_SERVING");
    expect(await unary(health, "check", { service: "orderly.orders.v1.QueryService" })).toEqual({
      status: "NOT_SERVING",
    });
    served.server.setServing(true);
    await eventually(() => statuses.length === 3, "SERVING again");
    expect(statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    served.server.setServing(false, "orderly.orders.v1.QueryService");
    expect(await unary(health, "check", { service: "orderly.orders.v1.QueryService" })).toEqual({
      status: "NOT_SERVING",
    });
    expect(await unary(health, "check", { service: "" })).toEqual({ status: "SERVING" });
    served.server.setServing(true);
    watch.cancel();
    health.close();
  });

  it("serves reflection v1 and v1alpha; a client with only reflection can call GetOrderSummary", async () => {
    const reflectionRoot = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "../proto");
    for (const version of ["v1", "v1alpha"]) {
      const pkg = grpc.loadPackageDefinition(
        loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [reflectionRoot] }),
      ) as unknown as { grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> } };
      const Reflection = pkg.grpc.reflection[version]?.ServerReflection;
      if (!Reflection) throw new Error(`no reflection ${version}`);
      const reflection = new Reflection(
        `127.0.0.1:${served.port}`,
        grpc.credentials.createInsecure(),
      ) as unknown as Client;
      const ask = (request: object) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const call = (
            reflection.serverReflectionInfo as () => grpc.ClientDuplexStream<object, Record<string, unknown>>
          )();
          call.on("data", (response: Record<string, unknown>) => {
            resolve(response);
            call.end();
          });
          call.on("error", reject);
          call.write(request);
        });

      const listed = (await ask({ listServices: "*" })) as { listServicesResponse: { service: { name: string }[] } };
      expect(listed.listServicesResponse.service.map((s) => s.name).sort()).toEqual([
        "grpc.health.v1.Health",
        "orderly.orders.v1.CommandService",
        "orderly.orders.v1.QueryService",
      ]);

      const files = (await ask({ fileContainingSymbol: "orderly.orders.v1.QueryService" })) as {
        fileDescriptorResponse: { fileDescriptorProto: Buffer[] };
      };
      const descriptors = files.fileDescriptorResponse.fileDescriptorProto;
      expect(descriptors.length).toBeGreaterThan(0);
      // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`.
      const set = new BinaryWriter();
      for (const file of descriptors) set.tag(1, WireType.LengthDelimited).bytes(file);
      const dynamic = grpc.loadPackageDefinition(
        loadFileDescriptorSetFromBuffer(Buffer.from(set.finish())),
      ) as unknown as {
        orderly: { orders: { v1: { QueryService: grpc.ServiceClientConstructor } } };
      };
      const client = new dynamic.orderly.orders.v1.QueryService(
        `127.0.0.1:${served.port}`,
        grpc.credentials.createInsecure(),
      ) as unknown as Client;
      const answer = await unary<{ summary: { orderId: string; totalMinor: unknown; itemCount: number } }>(
        client,
        "GetOrderSummary",
        { orderId: `o-${version}` },
      );
      expect(answer.summary.orderId).toBe(`o-${version}`);
      expect(String(answer.summary.totalMinor)).toBe("1234");
      expect(answer.summary.itemCount).toBe(2);
      expect((await failure(unary(client, "GetOrderSummary", { orderId: "missing" }))).code).toBe(
        grpc.status.NOT_FOUND,
      );
      client.close();
      reflection.close();
    }
  });

  it("works with an independent @grpc/proto-loader client reading proto/", async () => {
    const pkg = grpc.loadPackageDefinition(
      loadSync("orderly/orders/v1/commands.proto", { includeDirs: [findProtoDir()] }),
    ) as unknown as { orderly: { orders: { v1: { CommandService: grpc.ServiceClientConstructor } } } };
    const client = new pkg.orderly.orders.v1.CommandService(
      `127.0.0.1:${served.port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as Client;
    const response = await unary<{ accepted: { orderId: string; position: unknown } }>(client, "CreateOrder", {
      idempotencyKey: "k-pl",
      orderId: "o-pl",
    });
    expect(response.accepted.orderId).toBe("o-pl");
    expect(String(response.accepted.position)).toBe("7");
    client.close();
  });
});
