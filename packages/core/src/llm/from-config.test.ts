import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeOpenAIServer, type FakeOpenAIServer } from "@taskweaver/fake-openai";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../config/load.js";
import { ConfigError, LlmNotConfiguredError, MockAnswerMissingError } from "../errors.js";
import { languageModelFromConfig } from "./from-config.js";
import type { ChatStreamPart } from "./types.js";

let server: FakeOpenAIServer | undefined;
let appDir: string;
beforeEach(() => {
  appDir = mkdtempSync(join(tmpdir(), "taskweaver-llm-config-"));
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(appDir, { recursive: true, force: true });
});

function config(overrides: Record<string, unknown>, env: Record<string, string> = {}) {
  return loadConfig({ appDir, env, overrides });
}

async function answer(stream: AsyncIterable<ChatStreamPart>): Promise<string> {
  let text = "";
  for await (const part of stream) if (part.type === "text-delta") text += part.text;
  return text;
}

const hello = { messages: [{ role: "user" as const, content: "hi" }] };

describe("languageModelFromConfig", () => {
  it("throws LlmNotConfiguredError naming the keys and environment variables when nothing is set", () => {
    let error: unknown;
    try {
      languageModelFromConfig(config({}));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LlmNotConfiguredError);
    const notConfigured = error as LlmNotConfiguredError;
    expect(notConfigured.missingKeys).toEqual(["llm.model", "llm.api_key"]);
    for (const name of [
      "llm.model",
      "llm.api_key",
      "llm.api_base",
      "LLM_MODEL",
      "LLM_API_KEY",
      "LLM_API_BASE",
    ]) {
      expect(notConfigured.message).toContain(name);
    }
    // The hint names what works without a model: the recorded demo, not llm.use_mock.
    expect(notConfigured.message).toContain(
      "`pnpm --silent taskweaver --demo` in the repository, or `taskweaver --demo`",
    );
    expect(notConfigured.message).not.toContain("use_mock");
  });

  it("needs only the model for a custom base URL, and the key for api.openai.com", () => {
    expect(() => languageModelFromConfig(config({ "llm.model": "gpt-4o" }))).toThrow(LlmNotConfiguredError);
    expect(languageModelFromConfig(config({ "llm.model": "gpt-4o", "llm.api_key": "sk-x" })).modelId).toBe(
      "gpt-4o",
    );
    expect(
      languageModelFromConfig(config({ "llm.model": "llama3", "llm.api_base": "http://127.0.0.1:9/v1" }))
        .modelId,
    ).toBe("llama3");
    expect(languageModelFromConfig(config({ "llm.model": "llama3", "llm.api_type": "ollama" })).modelId).toBe(
      "llama3",
    );
    let error: unknown;
    try {
      languageModelFromConfig(config({ "llm.api_base": "http://127.0.0.1:9/v1" }));
    } catch (caught) {
      error = caught;
    }
    expect((error as LlmNotConfiguredError).missingKeys).toEqual(["llm.model"]);
  });

  it("reads the model, key and base URL from the environment variables", async () => {
    server = await startFakeOpenAIServer({ responses: ["from env"] });
    const llm = languageModelFromConfig(
      config({}, { LLM_MODEL: "env-model", LLM_API_KEY: "env-key", LLM_API_BASE: server.url }),
    );
    expect(await answer(llm.streamChat(hello))).toBe("from env");
    expect(server.chatRequests[0]!.body).toMatchObject({ model: "env-model" });
    expect(server.chatRequests[0]!.headers.authorization).toBe("Bearer env-key");
  });

  it("sends the configured temperature, max_tokens, seed and response format", async () => {
    server = await startFakeOpenAIServer({ responses: ["ok"] });
    const llm = languageModelFromConfig(
      config({
        "llm.model": "m",
        "llm.api_base": server.url,
        "llm.openai.temperature": 0.2,
        "llm.openai.max_tokens": 512,
        "llm.openai.seed": 42,
        "llm.response_format": "text",
      }),
    );
    await answer(llm.streamChat(hello));
    const body = server.chatRequests[0]!.body as Record<string, unknown>;
    expect(body).toMatchObject({ temperature: 0.2, max_tokens: 512, seed: 42 });
    expect(body.response_format).toBeUndefined();
  });

  it("does a non-streamed call when llm.stream is false", async () => {
    server = await startFakeOpenAIServer({ responses: ["whole"] });
    const llm = languageModelFromConfig(
      config({ "llm.model": "m", "llm.api_base": server.url, "llm.stream": false }),
    );
    expect(await answer(llm.streamChat(hello))).toBe("whole");
    expect((server.chatRequests[0]!.body as Record<string, unknown>).stream).toBeFalsy();
  });

  it("applies an ext_llms alias so a role can use another model", async () => {
    server = await startFakeOpenAIServer({ responses: ["main", "alias"] });
    const appConfig = config({
      "llm.model": "main-model",
      "llm.api_base": server.url,
      "ext_llms.llm_configs": { cheap: { "llm.model": "cheap-model", "llm.openai.temperature": 0.7 } },
    });
    await answer(languageModelFromConfig(appConfig).streamChat(hello));
    const aliased = languageModelFromConfig(appConfig, { alias: "cheap" });
    expect(aliased.modelId).toBe("cheap-model");
    await answer(aliased.streamChat(hello));
    expect(server.chatRequests.map((request) => (request.body as { model: string }).model)).toEqual([
      "main-model",
      "cheap-model",
    ]);
    expect(server.chatRequests[1]!.body).toMatchObject({ temperature: 0.7 });
    expect(() => languageModelFromConfig(appConfig, { alias: "missing" })).toThrow(/"missing".*cheap/);
  });

  it("talks to Azure with the deployment URL, api-version and api-key header", async () => {
    server = await startFakeOpenAIServer({ responses: ["azure says hi"] });
    const llm = languageModelFromConfig(
      config({
        "llm.api_type": "azure",
        "llm.api_base": server.origin,
        "llm.api_key": "azure-secret",
        "llm.model": "gpt4o-deployment",
        "llm.azure.api_version": "2024-10-21",
      }),
    );
    expect(await answer(llm.streamChat(hello))).toBe("azure says hi");
    const request = server.chatRequests[0]!;
    expect(request.path).toBe("/openai/deployments/gpt4o-deployment/chat/completions");
    expect(request.query).toEqual({ "api-version": "2024-10-21" });
    expect(request.headers["api-key"]).toBe("azure-secret");
  });

  it("asks for the Azure endpoint and key, and explains that azure_ad needs a token", () => {
    let error: unknown;
    try {
      languageModelFromConfig(config({ "llm.api_type": "azure", "llm.model": "d" }));
    } catch (caught) {
      error = caught;
    }
    expect((error as LlmNotConfiguredError).missingKeys).toEqual(["llm.api_base", "llm.api_key"]);
    expect(() =>
      languageModelFromConfig(
        config({
          "llm.api_type": "azure_ad",
          "llm.model": "d",
          "llm.api_base": "https://x.openai.azure.com",
        }),
      ),
    ).toThrow(ConfigError);
    expect(() =>
      languageModelFromConfig(
        config({
          "llm.api_type": "azure_ad",
          "llm.model": "d",
          "llm.api_base": "https://x.openai.azure.com",
        }),
      ),
    ).toThrow(/not supported yet/);
  });

  it("sends an azure_ad token as a bearer token", async () => {
    server = await startFakeOpenAIServer({ responses: ["ok"] });
    const llm = languageModelFromConfig(
      config({
        "llm.api_type": "azure_ad",
        "llm.model": "d",
        "llm.api_base": server.origin,
        "llm.api_key": "entra-token",
      }),
    );
    await answer(llm.streamChat(hello));
    expect(server.chatRequests[0]!.headers.authorization).toBe("Bearer entra-token");
    expect(server.chatRequests[0]!.headers["api-key"]).toBeUndefined();
  });

  it("points llm.api_type ollama at the local Ollama server unless llm.api_base says otherwise", async () => {
    const urls: string[] = [];
    const recordingFetch: typeof fetch = (input) => {
      urls.push(input instanceof Request ? input.url : String(input));
      return Promise.resolve(
        new Response(JSON.stringify({ error: { message: "stop here" } }), { status: 400 }),
      );
    };
    const ollama = languageModelFromConfig(config({ "llm.api_type": "ollama", "llm.model": "llama3" }), {
      fetch: recordingFetch,
    });
    await expect(answer(ollama.streamChat(hello))).rejects.toThrow(/stop here/);
    expect(urls).toEqual(["http://localhost:11434/v1/chat/completions"]);
  });

  it("uses the fake fetch it is given", async () => {
    server = await startFakeOpenAIServer({ responses: ["via fetch"] });
    let calls = 0;
    const countingFetch: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    const llm = languageModelFromConfig(config({ "llm.model": "m", "llm.api_base": server.url }), {
      fetch: countingFetch,
    });
    expect(await answer(llm.streamChat(hello))).toBe("via fetch");
    expect(calls).toBe(1);
  });

  it("builds the mock from llm.use_mock: records with the real model, plays back without it", async () => {
    server = await startFakeOpenAIServer({ responses: ["recorded answer"] });
    const recording = languageModelFromConfig(
      config({
        "llm.use_mock": true,
        "llm.model": "m",
        "llm.api_base": server.url,
        "llm.mock.cache_path": "cache/llm.yaml",
      }),
    );
    expect(await answer(recording.streamChat(hello))).toBe("recorded answer");
    await server.close();
    server = undefined;
    // No model configured at all: playback still works.
    const playing = languageModelFromConfig(
      config({
        "llm.use_mock": true,
        "llm.mock.mode": "playback_only",
        "llm.mock.cache_path": join(appDir, "cache", "llm.yaml"),
      }),
    );
    expect(await answer(playing.streamChat(hello))).toBe("recorded answer");
    const missing = languageModelFromConfig(
      config({ "llm.use_mock": true, "llm.mock.cache_path": "cache/llm.yaml" }),
    );
    let error: unknown;
    try {
      await answer(missing.streamChat({ messages: [{ role: "user", content: "not recorded" }] }));
    } catch (caught) {
      error = caught;
    }
    // Not the start-up error, whose hint would only send the user back here.
    expect(error).toBeInstanceOf(MockAnswerMissingError);
    expect((error as MockAnswerMissingError).message).toContain("no real model is configured");
    expect((error as MockAnswerMissingError).message).toContain("holds 1 recorded request.");
    expect((error as MockAnswerMissingError).message).not.toContain("--demo");
  });

  it("answers llm.mock.fixed_response in fixed mode", async () => {
    const llm = languageModelFromConfig(
      config({ "llm.use_mock": true, "llm.mock.mode": "fixed", "llm.mock.fixed_response": "fixed!" }),
    );
    expect(await answer(llm.streamChat(hello))).toBe("fixed!");
  });

  it("rejects an embedding API type it cannot serve, naming the key", async () => {
    const llm = languageModelFromConfig(
      config({
        "llm.model": "m",
        "llm.api_base": "http://127.0.0.1:9/v1",
        "llm.embedding_api_type": "sentence_transformers",
      }),
    );
    await expect(llm.embed(["x"])).rejects.toThrow(/llm\.embedding_api_type/);
  });
});
