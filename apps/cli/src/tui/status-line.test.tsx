import { render } from "ink-testing-library";
import { describe, expect, it } from "vitest";
import { formatElapsed, SPINNER_FRAMES, StatusLine } from "./status-line.js";

describe("StatusLine", () => {
  it("shows spinner, active role, what it does and the elapsed time while a round runs", () => {
    const frame = render(
      <StatusLine
        activity={{ role: "CodeInterpreter", status: "executing code" }}
        running
        elapsedMs={75_400}
        frame={1}
        demo={false}
      />,
    ).lastFrame();
    expect(frame).toBe(`${SPINNER_FRAMES[1]} CodeInterpreter is executing code · 1m 15s · Ctrl-C: stop`);
  });

  it("shows the keys to use when idle", () => {
    const frame = render(
      <StatusLine activity={undefined} running={false} elapsedMs={0} frame={0} demo={false} />,
    ).lastFrame();
    expect(frame).toContain("/help");
    expect(frame).toContain("Ctrl-C: leave");
  });

  it("formats elapsed time in seconds, then minutes", () => {
    expect(formatElapsed(0)).toBe("0s");
    expect(formatElapsed(9_999)).toBe("9s");
    expect(formatElapsed(60_000)).toBe("1m 00s");
  });
});
