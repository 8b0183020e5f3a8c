export {
  type EncodedHeaders,
  type InFlightBatch,
  JetStreamPublisher,
  type OutgoingMessage,
  PublishFailedError,
  renderHeaders,
} from "./jetstream-publisher.js";
export { type LagSource, type RelayMetrics, registerRelayMetrics } from "./metrics.js";
export {
  type AckedBatch,
  type ContinuityCheck,
  OutboxRelay,
  type OutboxRelayOptions,
  type PayloadUpcasters,
  type RelayBus,
  type RelayLogger,
  type RelayRole,
} from "./relay.js";
export { RelayFence, type RelayFenceOptions, relayLockName } from "./relay-fence.js";
