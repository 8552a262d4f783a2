import type { ChatRequest, ChatStreamPart, LanguageModel } from "@taskweaver/core";
import { describe, expect, it } from "vitest";
import { conversationForScoring, KICK_OFF_MESSAGE, STOP_KEYWORD, talkWithAgent } from "./virtual-user.js";

function scriptedModel(answers: string[]): LanguageModel & { requests: ChatRequest[] } {
  const requests: ChatRequest[] = [];
  return {
    modelId: "scripted",
    usage: [],
    requests,
    embed: () => Promise.resolve([]),
    async *streamChat(request: ChatRequest): AsyncGenerator<ChatStreamPart> {
      requests.push(request);
      yield { type: "text-delta", text: answers.shift() ?? "" };
      yield { type: "finish", finishReason: "stop" };
    },
  };
}

describe("talkWithAgent", () => {
  it("opens after the kick-off, relays the agent's replies, and ends on the stop keyword", async () => {
    const model = scriptedModel(["step one please", "now step two", `Thanks. ${STOP_KEYWORD}`]);
    const asked: string[] = [];
    const conversation = await talkWithAgent({
      model,
      taskDescription: "Do two steps.",
      askAgent: async (message) => {
        asked.push(message);
        return `done: ${message}`;
      },
    });
    expect(asked).toEqual(["step one please", "now step two"]);
    expect(conversation.ending).toBe("stopped");
    expect(conversation.rounds).toBe(2);
    expect(conversation.messages.map((message) => message.role)).toEqual(["system", "agent", "user", "agent", "user", "agent", "user"]);
    expect(conversation.messages[1]!.content).toBe(KICK_OFF_MESSAGE);
    expect(model.requests[0]!.messages[0]).toMatchObject({ role: "system", content: expect.stringContaining("Do two steps.") });
    // The agent speaks as "user" to the model playing the user, which answers as "assistant".
    expect(model.requests[2]!.messages.slice(1).map((message) => message.role)).toEqual(["user", "assistant", "user", "assistant", "user"]);
    expect(conversationForScoring(conversation).at(-1)).toEqual({ role: "agent", content: "done: now step two" });
  });

  it("stops at max rounds even when the user never says the keyword", async () => {
    const conversation = await talkWithAgent({
      model: scriptedModel(["a", "b", "c", "d"]),
      taskDescription: "t",
      maxRounds: 2,
      askAgent: async () => "ok",
    });
    expect(conversation).toMatchObject({ ending: "max-rounds", rounds: 2 });
  });

  it("ends with the failure as the agent's last word when a round fails", async () => {
    const conversation = await talkWithAgent({
      model: scriptedModel(["go"]),
      taskDescription: "t",
      askAgent: async () => {
        throw new Error("the kernel died");
      },
    });
    expect(conversation.ending).toBe("agent-failed");
    expect(conversationForScoring(conversation).at(-1)!.content).toMatch(/I cannot finish the task: .*the kernel died/);
  });
});
