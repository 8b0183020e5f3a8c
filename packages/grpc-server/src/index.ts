export { grpcServiceDefinition, methodPath, UndecodableRequest } from "./binding.js";
export { HealthState, healthProtoPath, healthService, type ServingStatus } from "./health.js";
export { type GrpcMetrics, grpcMetrics, handlingBuckets } from "./metrics.js";
export { addReflection, findProtoDir, loadPackageDefinition } from "./reflection.js";
export {
  CallAbortedError,
  type CallContext,
  GrpcServer,
  type GrpcServerOptions,
  MAX_RECEIVE_MESSAGE_BYTES,
  type ServerStreamingHandler,
  type ServiceImplementation,
  type UnaryHandler,
} from "./server.js";
export { INTERNAL_MESSAGE, type MappedStatus, statusByErrorCode, statusName, toGrpcStatus } from "./status.js";
