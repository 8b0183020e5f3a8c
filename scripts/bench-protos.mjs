// How the benches' plain gRPC clients load Orderly's protos with @grpc/proto-loader: one set of options.
import { fileURLToPath } from "node:url";

/** The checkout's proto/ folder. */
export const protoDir = fileURLToPath(new URL("../proto", import.meta.url));

/** Field names as in the .proto files, int64 and enums as strings, defaults filled in; imports from proto/. */
export const protoLoaderOptions = {
  includeDirs: [protoDir],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
};
