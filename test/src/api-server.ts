import { startApiServer, type ApiServer, type ApiServerOptions } from "@taskweaver/api";
import { TEST_PYTHON } from "./app-dir.js";

/**
 * The API over `appDir` on 127.0.0.1 (a free port), for tests: no environment, the test Python,
 * no request log. `configOverrides` are added to the test Python's.
 */
export function startTestApiServer(
  appDir: string,
  options: Omit<ApiServerOptions, "appDir"> = {},
): Promise<ApiServer> {
  return startApiServer({
    port: 0,
    env: {},
    logRequest: () => {},
    ...options,
    appDir,
    configOverrides: { "execution_service.python": TEST_PYTHON, ...options.configOverrides },
  });
}
