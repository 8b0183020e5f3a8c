// `@orderly/grpc-server/testing`: fixtures for tests and benchmarks of a GrpcServer, kept out of the public entry.
import { generateKeyPairSync, type KeyPairKeyObjectResult } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { type CertificateFiles, createCertificateAuthority, issueCertificate } from "./dev-pki.js";
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

/** What `localPki` made: PEM files in its folder, and the key pair tokens are signed with. */
export interface LocalPki {
  readonly ca: CertificateFiles;
  /** For `localhost` and `127.0.0.1`. */
  readonly server: CertificateFiles;
  /** `<dir>/client.crt` and `.key`, its CN the client's identity. */
  readonly client: CertificateFiles;
  /** ES256: sign tokens with `signing.privateKey`; the services read `publicKeyFile` (ORDERLY_JWT_PUBLIC_KEY_FILE). */
  readonly signing: KeyPairKeyObjectResult;
  readonly publicKeyFile: string;
}

/**
 * The PKI of a secured local stack in `dir`, as tests and benchmarks of one need it: a CA, a server certificate for
 * loopback, a client certificate for `clientName` and a P-256 key pair for JWTs, its public key as PEM.
 */
export function localPki(dir: string, clientName: string): LocalPki {
  const ca = createCertificateAuthority(dir, "ca");
  const server = issueCertificate(ca, dir, "server", {
    commonName: "localhost",
    hosts: ["localhost", "127.0.0.1"],
    usage: "server",
  });
  const client = issueCertificate(ca, dir, "client", { commonName: clientName, usage: "client" });
  const signing = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicKeyFile = join(dir, "jwt-public.pem");
  writeFileSync(publicKeyFile, signing.publicKey.export({ type: "spki", format: "pem" }));
  return { ca, server, client, signing, publicKeyFile };
}

/**
 * The settings that secure a service with `pki` (issue 15's "Done when"): its TLS certificate, mTLS against the CA,
 * and JWTs verified with the PKI's public key for `issuer` and `audience`.
 */
export function securedServiceEnv(
  pki: LocalPki,
  jwt: { readonly issuer: string; readonly audience: string },
): Record<string, string> {
  return {
    ORDERLY_TLS_CERT: pki.server.cert,
    ORDERLY_TLS_KEY: pki.server.key,
    ORDERLY_TLS_CLIENT_CA: pki.ca.cert,
    ORDERLY_JWT_PUBLIC_KEY_FILE: pki.publicKeyFile,
    ORDERLY_JWT_ISSUER: jwt.issuer,
    ORDERLY_JWT_AUDIENCE: jwt.audience,
  };
}
