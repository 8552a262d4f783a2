import { fileURLToPath } from "node:url";
import { describePublicApi } from "@taskweaver/public-api";

describePublicApi({
  "@taskweaver/executor": fileURLToPath(new URL("./index.ts", import.meta.url)),
  "@taskweaver/executor/internal": fileURLToPath(new URL("./internal/index.ts", import.meta.url)),
});
