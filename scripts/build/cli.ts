// npm run build: type-check, then bundle every action into dist/actions/ and print their sizes.
//   npm run build -- --out DIR --skip-typecheck NAME…   (names limit the build to those actions)
import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { projectEntries } from "./entries.ts";
import { bundleActions } from "./bundle.ts";
import { typecheck } from "./typecheck.ts";
import { sizeTable } from "./table.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { out: { type: "string", default: "dist/actions" }, "skip-typecheck": { type: "boolean", default: false } },
    allowPositionals: true,
  });
  let entries = projectEntries(root);
  if (positionals.length) {
    const unknown = positionals.filter((p) => !entries.some((e) => e.name === p));
    if (unknown.length) throw new Error(`no action named ${unknown.join(", ")}; actions are: ${entries.map((e) => e.name).join(", ")}`);
    entries = entries.filter((e) => positionals.includes(e.name));
  }
  if (!values["skip-typecheck"]) typecheck(root);
  const built = await bundleActions(entries, resolve(root, values.out!), { projectDir: root });
  console.log(sizeTable(built));
}

main().catch((err: Error) => {
  console.error(`build: ${err.message}`);
  process.exit(1);
});
