// The fake model lives in @taskweaver/fake-openai (no workspace dependencies, so core's own
// tests can use it without a package cycle); it is re-exported here for the end-to-end tests.
export {
  plannerAnswer,
  plannerRound,
  pythonAnswer,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  type RecordedRequest,
  type ScriptedPlan,
  type ScriptedResponse,
  type ScriptedToolCall,
} from "@taskweaver/fake-openai";
export { createTestAppDir, REPO_ROOT, TEST_PYTHON, type TestAppDir } from "./app-dir.js";
export { cleanEnvironment, runCli, runCommand, type CliRun, type RunCommandOptions } from "./cli-process.js";
export { startTestApiServer } from "./api-server.js";
export {
  createTestDatabaseSchema,
  startApiProcess,
  testDatabaseUnavailableReason,
  type ApiProcess,
  type ApiProcessOptions,
  type TestDatabaseSchema,
} from "./api-process.js";
