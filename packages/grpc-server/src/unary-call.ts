import { create, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import { type ServerUnaryCall, status as Status, type sendUnaryData } from "@grpc/grpc-js";
import { EncodedMessage, methodPath, UndecodableRequest } from "./binding.js";
import { admit, rateLimited } from "./call-admission.js";
import { GrpcCallContext } from "./call-context.js";
import type { CallEnvironment } from "./call-environment.js";
import { callFailure, trackCall, undecodable } from "./call-outcome.js";
import { endSpan, startCallSpan } from "./call-tracing.js";
import type { Init, UnaryHandler } from "./service-implementation.js";

/** The grpc-js handler of a unary method: admission, the handler, its answer (or the capped deadline's), metrics. */
export function unaryCall(
  env: CallEnvironment,
  method: DescMethod,
  handler: UnaryHandler<DescMessage, DescMessage>,
  scope: string | undefined,
) {
  const path = methodPath(method.parent, method).slice(1);
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const track = trackCall(env.metrics, method, "unary");
    const ctx = new GrpcCallContext(call, path, env.maxDeadlineMs);
    const span = startCallSpan(env.tracer, method, call, ctx);
    // The capped deadline may answer before the handler does: whichever comes second is dropped.
    let answered = false;
    const finish = (code: Status) => {
      ctx.release();
      track(code);
      if (span !== undefined) endSpan(span, code);
    };
    const fail = (error: unknown) => {
      if (answered) return;
      answered = true;
      const status = callFailure(error, ctx, env.logger);
      callback(status);
      finish(status.code);
    };
    ctx.onCappedDeadline(fail);
    const start = () => {
      const limited = rateLimited(env.limiter, ctx);
      if (limited !== undefined) {
        fail(limited);
        return;
      }
      const request = call.request;
      if (request instanceof UndecodableRequest) {
        if (answered) return;
        answered = true;
        callback({ code: Status.INVALID_ARGUMENT, details: undecodable(request) });
        finish(Status.INVALID_ARGUMENT);
        return;
      }
      const succeed = (result: Init<DescMessage> | EncodedMessage) => {
        if (answered) return;
        answered = true;
        const aborted = ctx.abortReason();
        if (aborted !== undefined) {
          finish(aborted.status);
          return;
        }
        let reply: MessageShape<DescMessage> | EncodedMessage;
        try {
          reply = result instanceof EncodedMessage ? result : create(method.output, result);
        } catch (error) {
          fail(error);
          return;
        }
        callback(null, reply);
        finish(Status.OK);
      };
      let result: Promise<Init<DescMessage> | EncodedMessage> | Init<DescMessage> | EncodedMessage;
      try {
        result = handler(request as MessageShape<DescMessage>, ctx);
      } catch (error) {
        fail(error);
        return;
      }
      if (result instanceof Promise) result.then(succeed, fail);
      else succeed(result);
    };
    admit(env.auth, call, ctx, scope, fail, start);
  };
}
