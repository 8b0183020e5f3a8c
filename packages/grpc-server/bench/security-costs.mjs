// The per-call costs of issue 15's security, shared by bench/security.mjs (the gRPC edge) and
// test/bench/security-stack.mjs (the whole stack): one JWT verification with and without the verified-token cache,
// and a TLS handshake with a client certificate against a TCP connect.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { JwtAuthenticator, Scopes } from "../dist/index.js";

/** µs of one verification: distinct tokens (every one a cache miss), then one token over and over (hits). */
export async function verificationCost(auth, sign) {
  const tokens = await Promise.all(Array.from({ length: 2_000 }, (_, i) => sign(i + 1)));
  const authenticator = new JwtAuthenticator({ ...auth, cacheSize: 100_000 });
  for (const token of tokens.slice(0, 200)) await authenticator.authorize([`Bearer ${token}`], Scopes.write);
  let started = process.hrtime.bigint();
  for (const token of tokens.slice(200)) await authenticator.authorize([`Bearer ${token}`], Scopes.write);
  const missUs = Number(process.hrtime.bigint() - started) / 1e3 / (tokens.length - 200);
  const hit = [`Bearer ${tokens[0]}`];
  const hits = 200_000;
  started = process.hrtime.bigint();
  for (let i = 0; i < hits; i++) {
    if (authenticator.authorize(hit, Scopes.write) instanceof Promise) throw new Error("expected a cache hit");
  }
  const hitUs = Number(process.hrtime.bigint() - started) / 1e3 / hits;
  return { verifyMicros: Number(missUs.toFixed(1)), cachedMicros: Number(hitUs.toFixed(2)), algorithm: "ES256" };
}

/** ms from connect to a usable connection: TCP to the plaintext port, TCP + TLS 1.3 with a client certificate. */
export async function handshakeCost(plainPort, securePort, ca, clientCert) {
  const n = 200;
  const tcp = async () => {
    const started = process.hrtime.bigint();
    const socket = netConnect(plainPort, "127.0.0.1");
    await once(socket, "connect");
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    socket.destroy();
    return ms;
  };
  const tlsOptions = {
    host: "127.0.0.1",
    port: securePort,
    servername: "localhost",
    ALPNProtocols: ["h2"],
    ca: readFileSync(ca.cert),
    cert: readFileSync(clientCert.cert),
    key: readFileSync(clientCert.key),
  };
  const tls = async () => {
    const started = process.hrtime.bigint();
    const socket = tlsConnect(tlsOptions);
    await once(socket, "secureConnect");
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    socket.destroy();
    return ms;
  };
  const median = async (fn) => {
    const times = [];
    for (let i = 0; i < n; i++) times.push(await fn());
    times.sort((a, b) => a - b);
    return times[Math.floor(n / 2)];
  };
  const tcpMs = await median(tcp);
  const tlsMs = await median(tls);
  return {
    tcpConnectMs: Number(tcpMs.toFixed(3)),
    tlsHandshakeMs: Number(tlsMs.toFixed(3)),
    handshakeCostMs: Number((tlsMs - tcpMs).toFixed(3)),
    connections: n,
  };
}
