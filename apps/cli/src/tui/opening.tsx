// `pnpm taskweaver` runs tsx from the repository root, whose settings do not apply the React
// JSX runtime of this package's tsconfig: these pragmas make every runner compile JSX alike.
/* @jsxRuntime automatic */
/* @jsxImportSource react */
import { Box, Text } from "ink";
import { BANNER_LINES, GREETING } from "../banner.js";

/** Banner and greeting; in demo mode, a clear label that this is a replay. */
export function Opening({ demo }: { demo: boolean }) {
  return (
    <Box flexDirection="column">
      <Text color="cyan">{BANNER_LINES.join("\n")}</Text>
      {demo ? (
        <Text color="yellow" bold>
          {"[demo] A replay of a recorded conversation: no model is called, the code really runs. " +
            "The recorded request is ready below: press Enter."}
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
