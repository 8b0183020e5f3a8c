import { fileURLToPath } from "node:url";
import { listServers, resolveDataDir, serverNames, stopServers } from "@orderly/local-servers";
import { type CliCommand, CommandFailedError, EXIT_FINDING, EXIT_OK } from "./command.js";

const checkoutRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * `pnpm orderly servers status|stop`: the Postgres, NATS and Redis that `pnpm start` ran itself for this checkout
 * (recorded in `.orderly/servers.json`); `stop` stops those still running (left by `--keep-servers` or by a stack
 * that was killed), their data stays.
 */
export const serversCommand: CliCommand = {
  name: "servers <action>",
  description:
    "status | stop: the servers `pnpm start` ran itself for this checkout (data in .orderly/); stop keeps their data",
  configure(command) {
    command.option("--data-dir <dir>", "their data folder (default .orderly/ in the checkout, or ORDERLY_DATA_DIR)");
  },
  async run(_context, args, options) {
    const action = args[0];
    const dataDir =
      typeof options.dataDir === "string" && options.dataDir !== ""
        ? options.dataDir
        : resolveDataDir(process.env, checkoutRoot);
    if (action === "status") {
      const servers = listServers(dataDir);
      const lines = servers.map(
        (s) =>
          `${serverNames[s.kind].padEnd(8)} ${`${s.host}:${s.port}`.padEnd(22)} ${s.running ? `running (pid ${s.pid})` : "stopped"}  data ${s.dataDir}`,
      );
      return {
        exitCode: EXIT_OK,
        json: { dataDir, servers },
        text: servers.length === 0 ? `no servers recorded in ${dataDir}\n` : `${lines.join("\n")}\n`,
      };
    }
    if (action === "stop") {
      const results = await stopServers(dataDir);
      const failed = results.filter((r) => !r.outcome.startsWith("stopped") && r.outcome !== "not running");
      const lines = results.map(
        ({ record, outcome }) =>
          `${outcome === "not running" ? "was not running" : outcome}: ${serverNames[record.kind]} on ${record.host}:${record.port} (data kept in ${record.dataDir})`,
      );
      return {
        exitCode: failed.length === 0 ? EXIT_OK : EXIT_FINDING,
        json: { dataDir, stopped: results.map((r) => ({ ...r.record, outcome: r.outcome })) },
        text: results.length === 0 ? `no servers of this checkout are running (${dataDir})\n` : `${lines.join("\n")}\n`,
      };
    }
    throw new CommandFailedError(
      `unknown action ${JSON.stringify(action)}: use \`servers status\` or \`servers stop\``,
    );
  },
};
