import { render } from "ink-testing-library";
import { describe, expect, it, vi } from "vitest";
import { PromptInput } from "./prompt-input.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 30));

function setup(history: string[] = []) {
  const onSubmit = vi.fn();
  const onInterrupt = vi.fn();
  const onEndOfInput = vi.fn();
  const view = render(
    <PromptInput
      history={history}
      onSubmit={onSubmit}
      onInterrupt={onInterrupt}
      onEndOfInput={onEndOfInput}
    />,
  );
  const type = async (...inputs: string[]) => {
    for (const input of inputs) {
      view.stdin.write(input);
      await tick();
    }
  };
  return { view, onSubmit, onInterrupt, onEndOfInput, type };
}

describe("PromptInput", () => {
  it("submits the typed text on Enter and clears the line", async () => {
    const { view, onSubmit, type } = setup();
    await tick();
    await type("c", "o", "u", "n", "t");
    expect(view.lastFrame()).toContain("Human: count");
    await type("\r");
    expect(onSubmit).toHaveBeenCalledWith("count");
    expect(view.lastFrame()).not.toContain("count");
  });

  it("edits with backspace and arrow keys", async () => {
    const { onSubmit, type } = setup();
    await tick();
    await type("abd", "\u007F", "c", "\u001B[D", "\u001B[D", "X", "\r");
    expect(onSubmit).toHaveBeenCalledWith("aXbc");
  });

  it("keeps line breaks of pasted text in the input, and Enter then submits all of it", async () => {
    const { view, onSubmit, type } = setup();
    await tick();
    await type("first line\rsecond line");
    expect(onSubmit).not.toHaveBeenCalled();
    expect(view.lastFrame()).toContain("first line\n");
    await type("\r");
    expect(onSubmit).toHaveBeenCalledWith("first line\nsecond line");
  });

  it("keeps the text when the request is refused", async () => {
    const onSubmit = vi.fn(() => false);
    const view = render(<PromptInput history={[]} onSubmit={onSubmit} onInterrupt={() => undefined} />);
    await tick();
    view.stdin.write("later");
    await tick();
    view.stdin.write("\r");
    await tick();
    expect(onSubmit).toHaveBeenCalledWith("later");
    expect(view.lastFrame()).toContain("Human: later");
  });

  it("submits text typed ahead that arrives in one chunk with the Enter", async () => {
    const { onSubmit, type } = setup();
    await tick();
    await type("what is 6 * 7?\r");
    expect(onSubmit).toHaveBeenCalledWith("what is 6 * 7?");
  });

  it("keeps Enter inside a bracketed paste as a line break", async () => {
    const { onSubmit, type } = setup();
    await tick();
    await type("\u001B[200~", "one", "\r", "two", "\u001B[201~");
    expect(onSubmit).not.toHaveBeenCalled();
    await type("\r");
    expect(onSubmit).toHaveBeenCalledWith("one\ntwo");
  });

  it("brings back earlier requests with up and down", async () => {
    const { view, onSubmit, type } = setup(["older", "newest"]);
    await tick();
    await type("\u001B[A");
    expect(view.lastFrame()).toContain("Human: newest");
    await type("\u001B[A", "\r");
    expect(onSubmit).toHaveBeenCalledWith("older");
  });

  it("reports Ctrl-C with whether the input was empty, and clears it", async () => {
    const { view, onInterrupt, type } = setup();
    await tick();
    await type("half a request", "\u0003");
    expect(onInterrupt).toHaveBeenLastCalledWith(false);
    expect(view.lastFrame()).not.toContain("half");
    await type("\u0003");
    expect(onInterrupt).toHaveBeenLastCalledWith(true);
  });

  it("reports Ctrl-D at an empty prompt as the end of input", async () => {
    const { onEndOfInput, type } = setup();
    await tick();
    await type("\u0004");
    expect(onEndOfInput).toHaveBeenCalledTimes(1);
  });
});
