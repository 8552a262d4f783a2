export {
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  type RecordedRequest,
  type ScriptedResponse,
  type ScriptedToolCall,
} from "./fake-openai-server.js";
export { createTestAppDir, REPO_ROOT, TEST_PYTHON, type TestAppDir } from "./app-dir.js";
export { cleanEnvironment, runCli, type CliRun } from "./cli-process.js";
export { plannerAnswer, plannerRound, pythonAnswer, type ScriptedPlan } from "./scripted-answers.js";
export { startTestApiServer } from "./api-server.js";
export {
  createTestDatabaseSchema,
  startApiProcess,
  testDatabaseUnavailableReason,
  type ApiProcess,
  type ApiProcessOptions,
  type TestDatabaseSchema,
} from "./api-process.js";
