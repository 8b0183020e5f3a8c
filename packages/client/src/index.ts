export { Code, ConnectError } from "@connectrpc/connect";
export { bearerTokenInterceptor, type OrderlyClientTls, type TokenProvider } from "./auth.js";
export {
  type CommandClient,
  createCommandClient,
  createOrderlyTransport,
  createQueryClient,
  type OrderlyClientOptions,
  type QueryClient,
} from "./clients.js";
export { type IdempotencyTest, isIdempotent, type RetryPolicy, retryInterceptor } from "./retry.js";
export {
  type ClientSecurity,
  type ClientTlsFiles,
  fileTokenProvider,
  readClientSecurity,
  SECURITY_ENV,
  type SecuritySettings,
  securitySettingsFromEnv,
} from "./security-settings.js";
export {
  createOrderlySession,
  type EventClient,
  EventSubscription,
  OrderlySession,
  type OrderlySessionOptions,
  type SubscribeOptions,
} from "./session.js";
export { currentTraceparent, traceparentInterceptor, withTraceparent } from "./trace.js";
