export {
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  type RecordedRequest,
  type ScriptedResponse,
  type ScriptedToolCall,
} from "./fake-openai-server.js";
