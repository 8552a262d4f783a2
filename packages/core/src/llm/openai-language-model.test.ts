import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  createLanguageModel,
  createOpenAICompatibleModel,
  OpenAICompatibleChatModel,
} from "./openai-language-model.js";

describe("the OpenAI-compatible provider's names", () => {
  it("keeps createLanguageModel as an alias of createOpenAICompatibleModel", () => {
    expect(createLanguageModel).toBe(createOpenAICompatibleModel);
    const model = createLanguageModel({ model: "gpt-test", baseUrl: "http://127.0.0.1:9/v1" });
    expect(model).toBeInstanceOf(OpenAICompatibleChatModel);
    expect(model.modelId).toBe("gpt-test");
  });

  it("does not show the API key when the model itself is printed", () => {
    const model = createOpenAICompatibleModel({ model: "gpt-test", apiKey: "sk-printed-key-test" });
    expect(inspect(model, { depth: 10, showHidden: true })).not.toContain("sk-printed-key-test");
  });
});
