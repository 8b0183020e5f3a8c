// Runs the command service with the V8 CPU profiler toggled by SIGUSR2: the first signal starts sampling, the second
// stops it and writes PROFILE_DIR/command-service.cpuprofile (so the profile covers the measured load only).
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const session = new Session();
session.connect();
session.post("Profiler.enable");
session.post("Profiler.setSamplingInterval", { interval: 200 });
let running = false;
process.on("SIGUSR2", () => {
  if (!running) {
    running = true;
    session.post("Profiler.start");
    return;
  }
  running = false;
  session.post("Profiler.stop", (error, result) => {
    if (!error) writeFileSync(`${process.env.PROFILE_DIR}/command-service.cpuprofile`, JSON.stringify(result.profile));
    console.error(error ? `profile failed: ${error}` : "profile written");
  });
});
await import("../dist/main.js");
