// \`sleep\` kept under its old name for the read models: it is @orderly/retry's \`pause\`.
export { pause as sleep } from "@orderly/retry";
export { type JetStreamSource, LiveConsumer } from "./jetstream-consumer.js";
export { MessageQueue } from "./message-queue.js";
export { type ProjectorMetrics, projectorMetrics } from "./metrics.js";
export {
  type CheckpointMark,
  CheckpointMovedError,
  type ContinuityCheck,
  type EventLog,
  type Logger,
  type Projection,
  ProjectionHandlerError,
  silentLogger,
} from "./projection.js";
export { Projector, type ProjectorOptions, type ProjectorStatus } from "./projector.js";
export {
  type RebuildOptions,
  type RebuildProgress,
  type RebuildResult,
  type RebuildTarget,
  RebuildVerificationError,
  rebuildProjection,
  type Verification,
} from "./rebuild.js";
export { covered, EventLogGapError, followOn, type RetiredLookup, type RetiredRange } from "./retired-gaps.js";
export {
  parseUnknownEventTypes,
  stopAtUnknownTypes,
  type UnknownEvent,
  type UnknownEventPolicy,
  type UnknownEventTypes,
  unknownEventPolicy,
  unknownEventTypesModes,
} from "./unknown-event-types.js";
