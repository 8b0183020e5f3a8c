// Ports for the dependency probes' tests (not built into dist: see tsconfig.build.json).
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll } from "vitest";

export interface TestPorts {
  /** A port that is certainly closed: bound, then closed again. */
  readonly closedPort: number;
  /** A port that accepts and never answers (a hung server). */
  readonly silentPort: number;
}

/** Opens the ports before the enclosing suite's tests and closes them after; read them inside a test. */
export function testPortsForSuite(): TestPorts {
  const ports = { closedPort: 0, silentPort: 0 };
  let silent: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    ports.closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    silent = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    ports.silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });
  return ports;
}
