export {
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  type RecordedRequest,
  type ScriptedResponse,
  type ScriptedToolCall,
} from "./fake-openai-server.js";
export { plannerAnswer, plannerRound, pythonAnswer, type ScriptedPlan } from "./scripted-answers.js";
