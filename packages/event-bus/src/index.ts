export { decodeEnvelope, encodeEnvelope, type HeaderReader } from "./codec.js";
export { assertNamespace, headers, ordersSubjects, streamName, subjectFor } from "./names.js";
export { type OrdersBus, ordersBus } from "./orders-bus.js";
export { type FieldKind, fieldNumbers, ProtoWriter } from "./proto-writer.js";
export { encodeStoredEnvelope, encodeStoredEnvelopeOpen } from "./stored-envelope-writer.js";
export {
  ensureOrdersStream,
  type OrdersStreamOptions,
  ordersStreamConfig,
  ordersStreamConfigUrl,
} from "./stream-config.js";
export {
  type ReadStreamOptions,
  readStreamEvents,
  readStreamHeaders,
  type StreamEventHeaders,
} from "./stream-reader.js";
export {
  type OrdersStreamStatus,
  readOrdersStreamStatus,
  readStreamMark,
  recreateOrdersStream,
  type StreamConsumerStatus,
  type StreamMark,
} from "./stream-status.js";
export { NatsStreamTail, type NatsStreamTailOptions, StreamUnreachableError } from "./stream-tail.js";
