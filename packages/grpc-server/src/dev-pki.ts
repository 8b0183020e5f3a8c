import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";

/** A certificate and its key, as PEM files. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

export interface IssueOptions {
  /** The subject's CN (for a client: its identity, e.g. `svc-checkout`). */
  readonly commonName: string;
  /** DNS names and IP addresses the certificate is valid for (a server's); default none. */
  readonly hosts?: readonly string[];
  /** `server`, `client` or both (default both). */
  readonly usage?: "server" | "client" | "both";
  readonly days?: number;
}

/**
 * A local certificate authority for development and tests, made with the `openssl` command (P-256 keys). Not for
 * production: the CA key sits next to its certificate.
 */
export function createCertificateAuthority(
  dir: string,
  name: string,
  commonName = `Orderly ${name} CA`,
): CertificateFiles {
  mkdirSync(dir, { recursive: true });
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  newKeyRequest(files.key, files.cert, commonName, [
    "-x509",
    "-days",
    "825",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  chmodSync(files.key, 0o600);
  return files;
}

/** A certificate signed by `ca`, written as `<dir>/<name>.crt` and `.key`. */
export function issueCertificate(
  ca: CertificateFiles,
  dir: string,
  name: string,
  options: IssueOptions,
): CertificateFiles {
  mkdirSync(dir, { recursive: true });
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  const usage = options.usage ?? "both";
  const lines = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage=${usage === "server" ? "serverAuth" : usage === "client" ? "clientAuth" : "serverAuth,clientAuth"}`,
  ];
  const hosts = options.hosts ?? [];
  if (hosts.length > 0) {
    lines.push(`subjectAltName=${hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",")}`);
  }
  writeFileSync(extensions, `${lines.join("\n")}\n`);
  try {
    newKeyRequest(files.key, csr, options.commonName, []);
    openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.cert,
      "-CAkey",
      ca.key,
      "-CAcreateserial",
      "-out",
      files.cert,
      "-days",
      String(options.days ?? 825),
      "-extfile",
      extensions,
    ]);
  } finally {
    rmSync(csr, { force: true });
    rmSync(extensions, { force: true });
  }
  chmodSync(files.key, 0o600);
  return files;
}

/** `openssl req` with a new P-256 key (to `keyFile`, unencrypted) for `/CN=<commonName>`, written to `out`. */
function newKeyRequest(keyFile: string, out: string, commonName: string, more: readonly string[]): void {
  openssl([
    "req",
    ...more,
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    out,
    "-subj",
    `/CN=${commonName}`,
  ]);
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("the openssl command is not installed (apt-get install openssl)");
    }
    throw new Error(`openssl ${args[0]} failed: ${stderr || (error as Error).message}`);
  }
}
