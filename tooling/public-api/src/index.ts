export { checkPublicApi, checkPublicApiSource, type PublicApiReport } from "./check-public-api.js";
export { describePublicApi } from "./describe-public-api.js";
