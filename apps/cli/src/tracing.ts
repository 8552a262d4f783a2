import type { AppConfig } from "@taskweaver/core";

/**
 * Starts the OpenTelemetry SDK for the command when tracing is on (`tracing.enabled` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT`), and makes the app's `close()` flush and stop it, so the
 * spans of the last round are exported before the process exits. Off, the app is unchanged.
 */
export async function withTelemetry<App extends { config: AppConfig; close(): Promise<void> }>(
  app: App,
  env: Record<string, string | undefined>,
): Promise<App> {
  const { startTelemetry } = await import("@taskweaver/telemetry");
  let telemetry;
  try {
    telemetry = await startTelemetry({ config: app.config, env, defaultServiceName: "taskweaver" });
  } catch (error) {
    // A bad tracing setting is a start-up error like any other config error.
    await app.close().catch(() => undefined);
    throw error;
  }
  if (!telemetry.enabled) return app;
  const close = app.close.bind(app);
  // Every way out of the CLI closes the app, so that is where the last spans are flushed.
  app.close = async () => {
    try {
      await close();
    } finally {
      await telemetry.shutdown();
    }
  };
  return app;
}
