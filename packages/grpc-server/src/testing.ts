// `@orderly/grpc-server/testing`: fixtures for tests and benchmarks of a GrpcServer, kept out of the public entry.
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { AddServiceOptions, GrpcServer } from "./server.js";
import type { ServiceImplementation } from "./service-implementation.js";

/**
 * Adds `service` with the `handlers` given; every other method is a stub (a unary one answers an empty message, a
 * server stream ends at once), for a test that exercises the server's edge (TLS, auth, limits) on one or two methods.
 */
export function addStubService<T extends GenServiceMethods>(
  server: GrpcServer,
  service: GenService<T>,
  handlers: Partial<ServiceImplementation<T>>,
  options?: AddServiceOptions,
): GrpcServer {
  const given = handlers as Record<string, unknown>;
  const implementation: Record<string, unknown> = {};
  for (const method of service.methods) {
    implementation[method.localName] =
      given[method.localName] ?? (method.methodKind === "unary" ? () => ({}) : async function* () {});
  }
  return server.addService(service, implementation as ServiceImplementation<T>, options);
}
