import { type CliCommand, CommandFailedError, EXIT_OK } from "./command.js";
import { isReadModelName, READ_MODELS, rebuildReadModel } from "./read-models.js";

export const rebuildCommand: CliCommand = {
  name: "rebuild <read-model>",
  description: `rebuild a read model from the event store next to the live one and swap it in (${READ_MODELS.join(", ")})`,
  async run(context, [name = ""]) {
    if (!isReadModelName(name)) {
      throw new CommandFailedError(`unknown read model ${JSON.stringify(name)} (expected ${READ_MODELS.join(" or ")})`);
    }
    const result = await rebuildReadModel(context, name);
    return {
      exitCode: EXIT_OK,
      json: result,
      text:
        `${result.projection}: rebuilt and swapped in at position ${result.position}; ${result.replayedEvents} events ` +
        `replayed in ${result.replaySeconds.toFixed(1)} s (${Math.round(result.replayEventsPerSecond)} events/s), ` +
        `${result.totalSeconds.toFixed(1)} s in all` +
        (result.verification ? `, verified: ${result.verification.rows} rows equal a fresh fold` : ""),
    };
  },
};
