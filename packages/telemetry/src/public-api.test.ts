import { fileURLToPath } from "node:url";
import { describePublicApi } from "@taskweaver/public-api";

describePublicApi({
  "@taskweaver/telemetry": fileURLToPath(new URL("./index.ts", import.meta.url)),
});
