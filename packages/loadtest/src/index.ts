export { CommandClient, QueryClient, statusName } from "./grpc-client.js";
export { type HtmlReportOptions, renderHtmlReport } from "./html-report.js";
export { LatencyRecorder, type LatencySummary } from "./latency.js";
export {
  type CallKind,
  type CommandKind,
  CREATE_ONLY,
  createRng,
  DEFAULT_MIX_TEXT,
  type Mix,
  makeMix,
  parseMixWeights,
  parseRate,
  pickKind,
} from "./mix.js";
export { parseDuration, parsePositiveInt, parsePositiveNumber } from "./options.js";
export { CallPlanner, type CommandMethod, type PlannedCall } from "./planner.js";
export type { Report } from "./report.js";
export { formatProgress, formatText } from "./report-text.js";
export { type CallOutcome, type LoadOptions, runLoad } from "./run.js";
export { OpenLoopSchedule } from "./schedule.js";
export {
  BearerMetadata,
  describeSecurity,
  fileTokenProvider,
  type LoadSecurity,
  type LoadTls,
  loadSecurity,
  SECURITY_ENV,
  type SecurityReport,
  type SecuritySettings,
  securitySettingsFromEnv,
  type TokenProvider,
} from "./security.js";
export { type IntervalSeries, PerSecondRecorder } from "./series.js";
export { evaluateSlo, parseSlo, type SloCheck, type SloResult } from "./slo.js";
export type { AcceptedReply } from "./wire.js";
