export { JwtAuthenticator, type JwtAuthOptions, type Principal, readPublicKey, Scopes } from "./auth.js";
export { EncodedBatch, EncodedMessage, grpcServiceDefinition, methodPath, UndecodableRequest } from "./binding.js";
export { CallAbortedError, type CallContext } from "./call-context.js";
export {
  type CertificateFiles,
  createCertificateAuthority,
  type IssueOptions,
  issueCertificate,
} from "./dev-pki.js";
export { HealthState, healthProtoPath, healthService, type ServingStatus } from "./health.js";
export { type GrpcMetrics, grpcMetrics, handlingBuckets } from "./metrics.js";
export {
  type CallerLimitOptions,
  CallerRateLimiter,
  callerKey,
  parseRate,
  RateLimitedError,
  StreamCounter,
} from "./rate-limit.js";
export { addReflection, findProtoDir, loadPackageDefinition, type ReflectionGuard } from "./reflection.js";
export { insecureWarning, isSecured, readServerSecurityConfig, type ServerSecurityConfig } from "./security-config.js";
export {
  type AddServiceOptions,
  GrpcServer,
  type GrpcServerOptions,
  MAX_RECEIVE_MESSAGE_BYTES,
} from "./server.js";
export type { ServerStreamingHandler, ServiceImplementation, UnaryHandler } from "./service-implementation.js";
export { readServingConfig, type ServingConfig } from "./serving-config.js";
export { INTERNAL_MESSAGE, type MappedStatus, statusByErrorCode, statusName, toGrpcStatus } from "./status.js";
export { checkTlsFiles, ServerTls, type ServerTlsOptions, TLS_REFRESH_INTERVAL_MS } from "./tls.js";
