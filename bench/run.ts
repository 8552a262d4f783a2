// Runs every benchmark in bench/src (files ending in .bench.ts), in name order, or only those
// whose name contains one of the command-line arguments: `pnpm bench kernel`.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { formatFigures } from "./src/stats.js";

const directory = join(dirname(fileURLToPath(import.meta.url)), "src");
const filters = process.argv.slice(2);
const files = readdirSync(directory)
  .filter((name) => name.endsWith(".bench.ts"))
  .filter((name) => filters.length === 0 || filters.some((filter) => name.includes(filter)))
  .sort();

let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file.replace(/\.bench\.ts$/, "")} ===`);
  try {
    const module = (await import(pathToFileURL(join(directory, file)).href)) as { run: () => Promise<void> };
    await module.run();
  } catch (error) {
    failed += 1;
    console.error(`benchmark ${file} failed:`, error);
  }
}
const table = formatFigures();
if (table !== undefined) {
  console.log("\n=== summary per runtime ===");
  console.log(table);
}
process.exit(failed === 0 ? 0 : 1);
