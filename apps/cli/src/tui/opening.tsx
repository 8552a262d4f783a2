import { Box, Text } from "ink";
import { BANNER_LINES, GREETING } from "../banner.js";

/** Banner and greeting; in demo mode, a clear label that this is a replay. */
export function Opening({ demo }: { demo: boolean }) {
  return (
    <Box flexDirection="column">
      <Text color="cyan">{BANNER_LINES.join("\n")}</Text>
      {demo ? (
        <Text color="yellow" bold>
          [demo] Replaying a recorded conversation: no model is called. Answers come from
          project/demo/mock.yaml.
        </Text>
      ) : null}
      <Text>
        <Text bold color="green">
          TaskWeaver:
        </Text>
        {GREETING.slice("TaskWeaver:".length)}
      </Text>
    </Box>
  );
}
