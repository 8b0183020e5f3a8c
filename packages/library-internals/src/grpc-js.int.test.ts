import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { framedWriter, frameMessages, GRPC_JS_INTERNALS } from "./grpc-js.js";

// Fails loudly when a @grpc/grpc-js upgrade moves the internals grpc-js.ts relies on (ADR 0017 §3, ADR 0018). The
// product would still work (it falls back to per-message writes), but slower: fix the module or drop it.

const version = (createRequire(import.meta.url)("@grpc/grpc-js/package.json") as { version: string }).version;
const identity = (b: Buffer) => b;
const definition: grpc.ServiceDefinition = {
  stream: {
    path: "/test.Stream/Stream",
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

let server: grpc.Server;
let client: grpc.Client;
const found: (string | undefined)[] = [];

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(definition, {
    stream(call: grpc.ServerWritableStream<Buffer, Buffer>) {
      const writer = framedWriter(call as grpc.ServerWritableStream<unknown, unknown>);
      found.push(writer ? undefined : "framedWriter found no writer");
      if (!writer) {
        call.end();
        return;
      }
      const messages = Array.from({ length: 300 }, (_, i) => Buffer.from(`message ${i}`));
      writer.write(frameMessages(messages.slice(0, 1)));
      writer.write(frameMessages(messages.slice(1)));
      // An empty message too (a proto3 message with every field at its default is zero bytes).
      writer.write(frameMessages([new Uint8Array(0)]));
      found.push(typeof writer.queuedBytes === "number" ? undefined : "no queuedBytes");
      call.end(); // grpc-js's own status path: trailers after the data written above
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );
  client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  server?.forceShutdown();
});

describe(`@grpc/grpc-js ${version} internals (@orderly/library-internals/grpc-js)`, () => {
  it("still has what framedWriter relies on: messages written as framed batches arrive one by one, then status OK", async () => {
    const received: string[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeServerStreamRequest("/test.Stream/Stream", identity, identity, Buffer.alloc(0));
      call.on("data", (b: Buffer) => received.push(b.toString()));
      call.on("error", () => {});
      call.on("status", resolve);
    });
    expect(
      found.filter((f) => f !== undefined),
      `grpc-js ${version} moved: ${GRPC_JS_INTERNALS.join("; ")}`,
    ).toEqual([]);
    expect(status.code).toBe(grpc.status.OK);
    expect(received).toEqual([...Array.from({ length: 300 }, (_, i) => `message ${i}`), ""]);
  });

  it("refuses a call whose own stream already queued messages (the two paths would reorder them)", () => {
    const stream = { write: () => true, respond() {}, writableLength: 0 };
    const call = { stream, maybeSendMetadata() {}, checkCancelled: () => false };
    const asCall = (c: object) => c as unknown as grpc.ServerWritableStream<unknown, unknown>;
    expect(framedWriter(asCall({ call, writableLength: 0 }))).toBeDefined();
    expect(framedWriter(asCall({ call, writableLength: 1 }))).toBeUndefined();
  });
});
