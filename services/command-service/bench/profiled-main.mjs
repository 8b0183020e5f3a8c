// Runs the command service under the V8 CPU profiler for PROFILE_SECONDS, then writes PROFILE_DIR/command-service.cpuprofile.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const session = new Session();
session.connect();
session.post("Profiler.enable");
session.post("Profiler.setSamplingInterval", { interval: 200 });
session.post("Profiler.start");
setTimeout(
  () => {
    session.post("Profiler.stop", (error, { profile }) => {
      if (!error) writeFileSync(`${process.env.PROFILE_DIR}/command-service.cpuprofile`, JSON.stringify(profile));
      console.error(error ? `profile failed: ${error}` : "profile written");
    });
  },
  Number(process.env.PROFILE_SECONDS ?? 10) * 1000,
).unref();
await import("../dist/main.js");
