import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { experimental, type ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";

/** TLS for a gRPC server, from PEM files that may be replaced while it runs. */
export interface ServerTlsOptions {
  /** Server certificate chain (PEM). */
  readonly certFile: string;
  /** Its private key (PEM). */
  readonly keyFile: string;
  /** With it, every client must present a certificate signed by this CA (mTLS). */
  readonly clientCaFile?: string | undefined;
  /** How often the files are re-read (default 5,000 ms). */
  readonly refreshIntervalMs?: number | undefined;
}

export const TLS_REFRESH_INTERVAL_MS = 5_000;

/**
 * The server's TLS credentials, from grpc-js's file-watching certificate provider: the files are re-read every
 * `refreshIntervalMs` and new connections get the new certificate (connections already open keep theirs), so a
 * rotation needs no restart. Replace the files atomically (a rename, or the symlink swap of a Kubernetes secret
 * volume): grpc-js drops new connections while it cannot read a matching pair, until the next successful read.
 */
export class ServerTls {
  readonly credentials: ServerCredentials;
  readonly mutual: boolean;
  readonly #provider: experimental.FileWatcherCertificateProvider;
  readonly #logger: Logger;
  #fingerprint: string;
  #listener: experimental.IdentityCertificateUpdateListener | undefined;
  #caListener: experimental.CaCertificateUpdateListener | undefined;

  /** Reads and checks the files now, so that a bad path or a key that does not match fails the start. */
  constructor(
    private readonly options: ServerTlsOptions,
    logger: Logger,
  ) {
    this.#logger = logger;
    this.mutual = options.clientCaFile !== undefined;
    this.#fingerprint = checkTlsFiles(options).fingerprint256;
    this.#provider = new experimental.FileWatcherCertificateProvider({
      certificateFile: options.certFile,
      privateKeyFile: options.keyFile,
      caCertificateFile: options.clientCaFile,
      refreshIntervalMs: options.refreshIntervalMs ?? TLS_REFRESH_INTERVAL_MS,
    });
    // grpc-js's argument names are swapped in its typings: the first is the identity provider, the second the CA's.
    this.credentials = experimental.createCertificateProviderServerCredentials(
      this.#provider,
      this.mutual ? this.#provider : null,
      this.mutual,
    );
  }

  /**
   * Call after the server is bound: resolves once grpc-js holds the first certificates (before that it drops
   * connections), then logs every rotation it sees.
   */
  ready(): Promise<void> {
    return new Promise((resolve) => {
      let identity = false;
      let ca = !this.mutual;
      const settle = () => {
        // The credentials' own listeners were added first (at bind) and run before ours.
        if (identity && ca) setImmediate(resolve);
      };
      this.#listener = (update) => {
        if (update === null) {
          this.#logger.warn(
            { certFile: this.options.certFile, keyFile: this.options.keyFile },
            "cannot read the TLS certificate or key: new connections are refused until the files can be read",
          );
          return;
        }
        const certificate = new X509Certificate(update.certificate);
        if (certificate.fingerprint256 !== this.#fingerprint) {
          this.#fingerprint = certificate.fingerprint256;
          this.#logger.info(
            {
              subject: oneLine(certificate.subject),
              validTo: certificate.validTo,
              fingerprint: certificate.fingerprint256,
            },
            "TLS certificate reloaded: new connections use it",
          );
        }
        if (!identity) {
          identity = true;
          settle();
        }
      };
      this.#provider.addIdentityCertificateListener(this.#listener);
      if (this.mutual) {
        this.#caListener = (update) => {
          if (update === null) {
            this.#logger.warn({ clientCaFile: this.options.clientCaFile }, "cannot read the client CA file");
            return;
          }
          if (!ca) {
            ca = true;
            settle();
          }
        };
        this.#provider.addCaCertificateListener(this.#caListener);
      }
    });
  }

  /** Stops watching the files (the server's own watcher goes when its listener closes). */
  stop(): void {
    if (this.#listener) this.#provider.removeIdentityCertificateListener(this.#listener);
    if (this.#caListener) this.#provider.removeCaCertificateListener(this.#caListener);
  }
}

/** Reads the PEM files and checks that they make a TLS context; throws an Error naming the file at fault. */
export function checkTlsFiles(options: ServerTlsOptions): X509Certificate {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} ${file}: ${(error as Error).message}`);
    }
  };
  const cert = read(options.certFile, "certificate");
  const key = read(options.keyFile, "key");
  const ca = options.clientCaFile === undefined ? undefined : read(options.clientCaFile, "client CA");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`the TLS certificate ${options.certFile} is not a PEM certificate: ${(error as Error).message}`);
  }
  try {
    createSecureContext({ cert, key, ca });
  } catch (error) {
    // The message is OpenSSL's (e.g. "key values mismatch"); it never contains key material.
    throw new Error(
      `the TLS files do not make a TLS context (certificate ${options.certFile}, key ${options.keyFile}${
        ca ? `, client CA ${options.clientCaFile}` : ""
      }): ${(error as Error).message}`,
    );
  }
  return certificate;
}

function oneLine(distinguishedName: string): string {
  return distinguishedName.split("\n").join(", ");
}
