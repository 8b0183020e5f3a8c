import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** What a request deserializer returns instead of throwing, so the handler can answer INVALID_ARGUMENT. */
export class UndecodableRequest {
  constructor(
    readonly typeName: string,
    readonly reason: string,
  ) {}
}

/** The `/package.Service/Method` path grpc-js routes on. */
export function methodPath(service: DescService, method: DescMethod): string {
  return `/${service.typeName}/${method.name}`;
}

/**
 * A grpc-js service definition for a protobuf-es service: binary (de)serialization with `toBinary`/`fromBinary`.
 * Request decoding never throws into grpc-js (which would answer INTERNAL): a bad request becomes an
 * UndecodableRequest value for the handler to reject. Usable for servers and for grpc-js clients.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`${service.typeName}.${method.name}: ${method.methodKind} methods are not supported`);
    }
    definition[method.localName] = {
      path: methodPath(service, method),
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      originalName: method.localName,
      requestSerialize: serializer(method.input),
      requestDeserialize: safeDeserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    } as MethodDefinition<unknown, unknown>;
  }
  return definition as ServiceDefinition;
}

/**
 * A response message already in its protobuf wire form: the server sends its bytes as they are. For hot streams whose
 * messages a hand-written encoder produces (protobuf-es's reflective toBinary costs ~25 µs per event envelope).
 */
export class EncodedMessage {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * Several response messages of a server stream, each already in its wire form, yielded at once: the server writes them
 * one after the other without returning to the handler in between (one generator step, one abort check and one
 * metrics update per batch instead of per message). Flow control still applies between batches.
 */
export class EncodedBatch {
  constructor(readonly messages: readonly Uint8Array[]) {}
}

function serializer<T extends DescMessage>(schema: T): (message: MessageInitShape<T> | EncodedMessage) => Buffer {
  return (message) => {
    if (message instanceof EncodedMessage) {
      const bytes = message.bytes;
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    // create() returns a message as it is and builds one from a plain init object.
    const bytes = toBinary(schema, create(schema, message));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function safeDeserializer<T extends DescMessage>(schema: T): (bytes: Buffer) => MessageShape<T> | UndecodableRequest {
  return (bytes) => {
    try {
      return fromBinary(schema, bytes);
    } catch (error) {
      return new UndecodableRequest(schema.typeName, error instanceof Error ? error.message : String(error));
    }
  };
}
