#!/usr/bin/env node
// Other tenants' data on the shared servers, so that the tests run as they would against a company's shared Redis and
// NATS (issue 13): Redis keys (strings and hashes) and JetStream streams under a prefix of their own, and a few empty
// Postgres databases. Everything is named from the prefix and a counter, so `delete` removes exactly what `load`
// made (by name: no SCAN, no FLUSH, nothing of anyone else's).
//
// Usage:
//   node scripts/load-foreign-data.mjs load [--keys 300000] [--streams 50] [--databases 2] [--prefix foreign_ab12cd]
//       prints the prefix on stdout (a fresh random one unless --prefix is given)
//   node scripts/load-foreign-data.mjs delete --prefix foreign_ab12cd [--keys N] [--streams N] [--databases N]
//       the same counts as the load (the defaults when both used them)
//
// Servers: REDIS_URL, NATS_URL, ORDERLY_TEST_ADMIN_DATABASE_URL (the defaults of @orderly/testing).
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { connect as tcpConnect } from "node:net";
import { pathToFileURL } from "node:url";

const fromTesting = createRequire(new URL("../packages/testing/package.json", import.meta.url));
const load = async (name) => import(pathToFileURL(fromTesting.resolve(name)).href);

const args = process.argv.slice(2);
const command = args[0];
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
};
const count = (name, fallback) => {
  const value = Number(option(name, String(fallback)));
  if (!Number.isInteger(value) || value < 0) fail(`--${name} must be a whole number`);
  return value;
};
function fail(message) {
  process.stderr.write(`load-foreign-data: ${message}\n`);
  process.exit(2);
}

if (command !== "load" && command !== "delete") {
  fail("usage: load-foreign-data.mjs load|delete [--prefix P] [--keys N] [--streams N] [--databases N]");
}
const prefix = option("prefix", command === "load" ? `foreign_${randomBytes(4).toString("hex")}` : undefined);
if (prefix === undefined) fail("delete needs --prefix (the one load printed)");
if (!/^foreign_[a-z0-9_]+$/.test(prefix)) fail(`the prefix must look like foreign_<letters/digits>, not ${prefix}`);
const keys = count("keys", 300_000);
const streams = count("streams", 50);
const databases = count("databases", 2);
const redisUrl = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const adminUrl = process.env.ORDERLY_TEST_ADMIN_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres";

/** Key i: every third a hash, the rest strings. */
const keyName = (i) => (i % 3 === 0 ? `${prefix}:h:${i}` : `${prefix}:s:${i}`);
const streamName = (i) => `${prefix.toUpperCase()}_${i}`;
const databaseName = (i) => `${prefix}_${i}`;

/** RESP over a plain socket: the whole pipeline in a few large writes, replies counted as they come back. */
async function redisPipeline(commands) {
  const socket = tcpConnect(Number(redisUrl.port || 6379), redisUrl.hostname || "127.0.0.1");
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const encode = (parts) => {
    let out = `*${parts.length}\r\n`;
    for (const p of parts) out += `$${Buffer.byteLength(p)}\r\n${p}\r\n`;
    return out;
  };
  const pre = [];
  if (redisUrl.password) {
    const user = decodeURIComponent(redisUrl.username);
    pre.push(["AUTH", ...(user ? [user] : []), decodeURIComponent(redisUrl.password)]);
  }
  const db = redisUrl.pathname.replace("/", "");
  if (db) pre.push(["SELECT", db]);
  const all = [...pre, ...commands];
  let pending = all.length;
  let errors = 0;
  let firstError;
  let buffered = "";
  const done = new Promise((resolve, reject) => {
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      // Replies here are simple strings, integers or errors: one line each.
      let at = buffered.indexOf("\r\n");
      while (at >= 0) {
        const line = buffered.slice(0, at);
        buffered = buffered.slice(at + 2);
        if (line.startsWith("-")) {
          errors++;
          firstError ??= line;
        }
        pending--;
        at = buffered.indexOf("\r\n");
      }
      if (pending === 0) resolve();
    });
  });
  for (let i = 0; i < all.length; i += 5000) {
    socket.write(
      all
        .slice(i, i + 5000)
        .map(encode)
        .join(""),
    );
  }
  await done;
  socket.end();
  if (errors > 0) throw new Error(`redis: ${errors} commands failed, first: ${firstError}`);
}

async function loadRedis() {
  const commands = [];
  for (let i = 0; i < keys; i++) {
    const name = keyName(i);
    if (i % 3 === 0) commands.push(["HSET", name, "tenant", prefix, "n", String(i), "note", "someone else's data"]);
    else commands.push(["SET", name, `${prefix}-value-${i}`]);
  }
  await redisPipeline(commands);
}

async function deleteRedis() {
  const commands = [];
  for (let i = 0; i < keys; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(keys, i + 500); j++) batch.push(keyName(j));
    commands.push(["UNLINK", ...batch]);
  }
  await redisPipeline(commands);
}

async function withNats(fn) {
  const { connect } = await load("@nats-io/transport-node");
  const { jetstreamManager, jetstream } = await load("@nats-io/jetstream");
  const nc = await connect({ servers: natsUrl, timeout: 5_000 });
  try {
    return await fn(await jetstreamManager(nc), jetstream(nc));
  } finally {
    await nc.close();
  }
}

async function loadStreams() {
  await withNats(async (jsm, js) => {
    for (let i = 0; i < streams; i++) {
      const subject = `${prefix}.${i}`;
      await jsm.streams.add({ name: streamName(i), subjects: [`${subject}.>`], max_msgs: 1000 });
      await Promise.all(Array.from({ length: 10 }, (_, n) => js.publish(`${subject}.m`, `message ${n}`)));
    }
  });
}

async function deleteStreams() {
  await withNats(async (jsm) => {
    for (let i = 0; i < streams; i++) {
      try {
        await jsm.streams.delete(streamName(i));
      } catch (error) {
        if (!/not found/i.test(String(error))) throw error;
      }
    }
  });
}

async function withAdmin(fn) {
  const pg = (await load("pg")).default;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function loadDatabases() {
  await withAdmin(async (client) => {
    for (let i = 0; i < databases; i++) await client.query(`create database ${databaseName(i)}`);
  });
}

async function deleteDatabases() {
  await withAdmin(async (client) => {
    for (let i = 0; i < databases; i++) await client.query(`drop database if exists ${databaseName(i)} with (force)`);
  });
}

const started = Date.now();
if (command === "load") {
  try {
    await loadRedis();
    await loadStreams();
    await loadDatabases();
  } catch (error) {
    process.stderr.write(`load-foreign-data: load failed (${error.message}); removing what was made\n`);
    await Promise.allSettled([deleteRedis(), deleteStreams(), deleteDatabases()]);
    process.exit(1);
  }
  process.stderr.write(
    `load-foreign-data: ${keys} Redis keys, ${streams} JetStream streams and ${databases} databases under ${prefix} ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  process.stdout.write(`${prefix}\n`);
} else {
  const results = await Promise.allSettled([deleteRedis(), deleteStreams(), deleteDatabases()]);
  const failed = results.filter((r) => r.status === "rejected");
  for (const f of failed) process.stderr.write(`load-foreign-data: delete failed: ${f.reason?.message ?? f.reason}\n`);
  process.stderr.write(
    `load-foreign-data: removed ${prefix}'s keys, streams and databases in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  process.exit(failed.length > 0 ? 1 : 0);
}
