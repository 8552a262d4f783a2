import { fileURLToPath } from "node:url";
import { describePublicApi } from "@taskweaver/public-api";

describePublicApi({
  "@taskweaver/core": fileURLToPath(new URL("./index.ts", import.meta.url)),
  "@taskweaver/core/internal": fileURLToPath(new URL("./internal/index.ts", import.meta.url)),
});
