import { randomBytes } from "node:crypto";

/** Creates ids in TaskWeaver's style: a prefix, a UTC timestamp and random hex (`post-20261125-093501-a1b2c3d4`). */
export type IdGenerator = (prefix: string) => string;

export const createId: IdGenerator = (prefix) => {
  const now = new Date();
  const pad = (value: number) => String(value).padStart(2, "0");
  const stamp =
    `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-` +
    `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  return `${prefix}-${stamp}-${randomBytes(4).toString("hex")}`;
};
