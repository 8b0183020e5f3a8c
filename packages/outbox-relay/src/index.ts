export {
  type EncodedHeaders,
  type InFlightBatch,
  JetStreamPublisher,
  type OutgoingMessage,
  PublishFailedError,
  renderHeaders,
} from "./jetstream-publisher.js";
export { type LagSource, type RelayMetrics, registerRelayMetrics } from "./metrics.js";
export { NatsSession, NatsUnavailableError, type StreamTail } from "./nats-session.js";
export {
  type AckedBatch,
  type BatchPublisher,
  PublishPipeline,
  type PublishPipelineOptions,
  type ResumePoint,
  StoreWentBackError,
} from "./pipeline.js";
export type {
  CommitListener,
  ContinuityCheck,
  LockAttempt,
  OutboxPage,
  PayloadUpcasters,
  RelayBus,
  RelayCheckpoint,
  RelayLogger,
  RelaySession,
  RelayStore,
} from "./ports.js";
export { StreamReconciler } from "./reconciler.js";
export { OutboxRelay, type OutboxRelayOptions, type RelayRole } from "./relay.js";
