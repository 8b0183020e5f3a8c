import type { Interceptor } from "@connectrpc/connect";

/** Returns the bearer token for the next call; called per call (and per retry), so it may refresh the token. */
export type TokenProvider = () => string | Promise<string>;

/** TLS of the connection to an Orderly service (PEM strings or buffers). */
export interface OrderlyClientTls {
  /** The CA that signed the server's certificate (default: the system's roots). */
  readonly ca?: string | Buffer | undefined;
  /** This client's certificate and key, for a server that requires mTLS. */
  readonly cert?: string | Buffer | undefined;
  readonly key?: string | Buffer | undefined;
  /** The name the server's certificate must carry, when it is not the host of `baseUrl`. */
  readonly serverName?: string | undefined;
}

/** Sends `authorization: Bearer <token>` on every call, asking `token` each time. */
export function bearerTokenInterceptor(token: TokenProvider): Interceptor {
  return (next) => async (request) => {
    const value = await token();
    if (!value) throw new Error("the token provider returned no token");
    request.header.set("authorization", `Bearer ${value}`);
    return next(request);
  };
}
