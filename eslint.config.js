import config from "@taskweaver/eslint-config";

export default config;
