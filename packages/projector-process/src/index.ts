export { type ProjectorConfig, readProjectorConfig } from "./config.js";
export {
  type ProjectionModule,
  type ProjectorProcessContext,
  type ProjectorProcessInput,
  type ProjectorProcessSpec,
  runProjectorProcess,
} from "./run-projector-process.js";
