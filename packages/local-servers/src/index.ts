export { type AdviceContext, adviceFor, installCommands, startCommands } from "./advice.js";
export {
  findInstalledServers,
  type InstalledServers,
  type PostgresBinaries,
  type ServerKind,
  searchDirs,
} from "./binaries.js";
export { postgresOsUser } from "./postgres-user.js";
export { type ProvideOptions, type ProvideResult, provideServers } from "./provide.js";
export {
  accepts,
  addressOf,
  isLoopback,
  listServers,
  resolveDataDir,
  type ServerRecord,
  type StopResult,
  serverNames,
  startServer,
  stopServers,
} from "./servers.js";
