export { checkPublicApi, checkPublicApiSource, type PublicApiReport } from "./check-public-api.js";
