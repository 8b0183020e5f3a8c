// Test helpers (`@orderly/event-bus/testing`): protobuf-es's reflective path, the reference the hand-written envelope
// writer and reader are tested and benchmarked against.
export { decodeEnvelopeReflective, encodeEnvelopeReflective, fromEnvelope, toEnvelope } from "./codec.js";
