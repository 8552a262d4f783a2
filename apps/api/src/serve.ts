// `taskweaver-api -p DIR [--host 127.0.0.1] [--port 8000] [--config key=value ...]` (`pnpm serve` in
// the repository). One Node process that drains and stops everything on SIGTERM or SIGINT, so
// process managers and package managers need nothing in between.
import { parseArgs } from "node:util";
import { TaskWeaverError, parseConfigAssignments } from "@taskweaver/core";
import { startApiServer } from "./server.js";

const usage = `Usage: taskweaver-api -p DIR [--host 127.0.0.1] [--port 8000] [--config key=value ...]
       (in the repository: pnpm serve -p DIR ...)

  -p, --project DIR   app directory holding taskweaver_config.json (default: nearest upward)
      --host HOST     address to listen on (default 127.0.0.1; others need API keys)
      --port PORT     port (default 8000; 0 picks a free one)
  -c, --config K=V    override a config key, e.g. --config api.max_sessions=8

API keys: TASKWEAVER_API_KEYS=key1,key2 or the config key api.keys.
Playground: http://HOST:PORT/   Docs: http://HOST:PORT/api/v1/docs`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        project: { type: "string", short: "p" },
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "8000" },
        config: { type: "string", short: "c", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    process.stderr.write(`--port must be a number from 0 to 65535, got ${JSON.stringify(values.port)}.\n`);
    return 2;
  }
  const server = await startApiServer({
    appDir: values.project,
    host: values.host,
    port,
    configOverrides: parseConfigAssignments(values.config ?? []),
  });
  process.stdout.write(`TaskWeaver API listening on ${server.url} (reference: ${server.url}/api/v1/docs)\n`);
  process.stdout.write(`Playground: ${server.url}/\n`);

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        process.stderr.write(`${signal} again: exiting without waiting.\n`);
        process.exit(1);
      }
      process.stdout.write(`${signal}: finishing running rounds, then stopping.\n`);
      server.close().then(resolve, (error: unknown) => {
        process.stderr.write(`Shutdown failed: ${String(error)}\n`);
        resolve();
      });
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  process.stdout.write("Stopped.\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = TaskWeaverError.isInstance(error)
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error);
    process.stderr.write(`taskweaver-api: ${message}\n`);
    process.exit(1);
  },
);
