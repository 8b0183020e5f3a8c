import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/**
 * A TCP proxy in front of one server (Postgres, Redis, ...), for tests that take a dependency away from one process
 * without touching the shared server: `down()` refuses new connections and cuts the live ones, `up()` serves again
 * on the same port, `freeze()` keeps every connection open but passes no more bytes (a hung network).
 */
export interface TcpProxy {
  readonly port: number;
  /** `url` (postgres://, redis://, ...) with its host and port replaced by the proxy's. */
  url(url: string): string;
  /** Stops listening (new connections are refused) and destroys every live connection. */
  down(): Promise<void>;
  /** Listens again on the same port and forwards as before. */
  up(): Promise<void>;
  /** Live and new connections stay open but nothing is forwarded any more, either way, until `up()`. */
  freeze(): void;
  /** Connections open right now. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? "127.0.0.1";
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  let server: Server | undefined;

  const onConnection = (client: Socket) => {
    const upstream = tcpConnect({ host, port: target.port });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.on("error", end);
      socket.on("close", end);
    }
    // Frozen: hold the bytes (a socket that is not read from forwards nothing).
    if (!frozen) flow(pair);
  };
  const flow = ([client, upstream]: [Socket, Socket]) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const hold = ([client, upstream]: [Socket, Socket]) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };

  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const created = createServer(onConnection);
      created.once("error", reject);
      created.listen(port, "127.0.0.1", () => {
        created.off("error", reject);
        resolve(created);
      });
    });

  server = await listen(0);
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy has no TCP address");
  const port = address.port;

  const stopListening = async () => {
    const current = server;
    server = undefined;
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  };
  const cutAll = () => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };

  return {
    port,
    url(url: string) {
      const parsed = new URL(url);
      parsed.hostname = "127.0.0.1";
      parsed.port = String(port);
      return parsed.toString();
    },
    async down() {
      frozen = false;
      const closing = stopListening();
      cutAll();
      await closing;
    },
    async up() {
      if (frozen) for (const pair of pairs) flow(pair);
      frozen = false;
      server ??= await listen(port);
    },
    freeze() {
      if (!frozen) for (const pair of pairs) hold(pair);
      frozen = true;
    },
    get connections() {
      return pairs.size;
    },
    async close() {
      const closing = stopListening();
      cutAll();
      await closing;
    },
  };
}
