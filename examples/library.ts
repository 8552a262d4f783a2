// TaskWeaver as a library: one session over the sample project, one request with a file
// attached, every post printed as it ends, and the error when the round fails.
// From the repository root: pnpm exec tsx examples/library.ts
// The model comes from LLM_API_KEY and LLM_MODEL (and LLM_API_BASE), or the project's config.
import { createTaskWeaver } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";

const app = await createTaskWeaver({ appDir: "project", createExecutorFactory });
try {
  const session = await app.createSession();
  const round = await session.sendMessage("count the rows of demo_data.csv", {
    // Copied into the session's working directory, where the code runs: it opens "demo_data.csv".
    files: [{ name: "demo_data.csv", path: "project/sample_data/demo_data.csv" }],
    onEvent: (event) => {
      if (event.type === "post-end") console.log(`[${event.post.send_from} -> ${event.post.send_to}] ${event.post.message}`);
    },
    signal: AbortSignal.timeout(300_000),
  });
  if (round.state === "finished") {
    console.log(`Answer: ${round.post_list.at(-1)?.message}`);
  } else {
    // A failed round ends with the posts so far (the last may be the user's own message);
    // what went wrong is the session's lastError.
    console.error(`The round failed: ${session.lastError?.message ?? "unknown error"}`);
    process.exitCode = 1;
  }
} finally {
  await app.close();
}
