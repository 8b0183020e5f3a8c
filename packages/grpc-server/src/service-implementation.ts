import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { EncodedBatch, EncodedMessage } from "./binding.js";
import type { CallContext } from "./call-context.js";

export type Init<O extends DescMessage> = MessageInitShape<O>;
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => Promise<Init<O> | EncodedMessage> | Init<O> | EncodedMessage;
export type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => AsyncIterable<Init<O> | EncodedMessage | EncodedBatch>;

/** One handler per method of a protobuf-es service, typed from its generated descriptor. */
export type ServiceImplementation<T extends GenServiceMethods> = {
  [K in keyof T]: T[K] extends {
    methodKind: "unary";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  }
    ? UnaryHandler<I, O>
    : T[K] extends {
          methodKind: "server_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? ServerStreamingHandler<I, O>
      : never;
};
