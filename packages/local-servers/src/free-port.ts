import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The lowest port handed out; below it live the well-known servers (Postgres 5432, Redis 6379, NATS 4222 …). */
const LOWEST = 10_000;

/** Ports this process handed out: never twice, since a server that has not bound its port yet is invisible to a probe. */
const handedOut = new Set<number>();

/**
 * A port that is free now and that no outgoing connection will take later. The kernel gives outgoing connections their
 * local port from its ephemeral range (`ip_local_port_range`, 32768–60999 on Linux), and `listen(0)` draws from the
 * same range: such a port, released until its server binds it (or between a service's restarts, when the fault suites
 * kill and start it again), can be taken by any client connecting meanwhile, and the server then fails with
 * EADDRINUSE until that connection ends. So ports are drawn at random below the ephemeral range (from 10000 up to its
 * start), probed by binding, and never handed out twice by one process; the kernel's pick is the fallback when the
 * range is too small or nothing there is free.
 */
export async function freePort(): Promise<number> {
  const [low, high] = listenRange();
  for (let attempt = 0; high - low > 100 && attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    if ((await bound(port)) === port) {
      handedOut.add(port);
      return port;
    }
  }
  for (;;) {
    const port = await bound(0);
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** [lowest, first ephemeral port): the ports no outgoing connection is given. */
export function listenRange(rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"): [number, number] {
  let ephemeralStart = 32_768;
  try {
    const first = Number(readFileSync(rangeFile, "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > 0) ephemeralStart = first;
  } catch {
    // Not Linux (or no /proc): the IANA dynamic range starts at 49152, Linux's default at 32768; take the lower.
  }
  return [LOWEST, ephemeralStart];
}

/** Binds 127.0.0.1:`port` (0: the kernel picks) and releases it: the port bound, or undefined when it was taken. */
function bound(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === "object" ? address.port : undefined));
    });
  });
}
