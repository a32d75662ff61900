// npm run cite -- <function> [--prefix 10.xxxx] [--publisher NAME] [--out DIR]
// Builds the function, then writes codemeta.json and datacite.json for exactly that version.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bundleActions } from "../build/bundle.ts";
import { projectEntries } from "../build/entries.ts";
import { readCitationInfo } from "./citation.ts";
import { codemeta } from "./codemeta.ts";
import { datacite, missingDataCiteFields } from "./datacite.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      prefix: { type: "string", default: process.env.DATACITE_PREFIX ?? "10.5072" },
      publisher: { type: "string", default: process.env.DATACITE_PUBLISHER },
      out: { type: "string", default: "dist/cite" },
    },
    allowPositionals: true,
  });
  const entries = projectEntries(root);
  const name = positionals[0];
  const entry = entries.find((e) => e.name === name);
  if (!entry) {
    throw new Error(
      `${name ? `no function named ${name}` : "name the function to cite"}: npm run cite -- <function>, one of ${entries.map((e) => e.name).join(", ")}`,
    );
  }
  const info = readCitationInfo(root);
  const [built] = await bundleActions([entry], join(root, "dist", "actions"), { projectDir: root });
  const p = built!.provenance;
  const dc = datacite(info, p, entry.name, {
    prefix: values.prefix!,
    publisher: values.publisher ?? info.authors[0]?.name ?? info.authors[0]?.familyName ?? "unknown",
    year: new Date().getUTCFullYear(),
  });
  const missing = missingDataCiteFields(dc);
  if (missing.length) throw new Error(`DataCite metadata lacks ${missing.join(", ")}; complete CITATION.cff`);
  const out = resolve(root, values.out!, entry.name);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "codemeta.json"), `${JSON.stringify(codemeta(info, p, entry.name), null, 2)}\n`);
  writeFileSync(join(out, "datacite.json"), `${JSON.stringify(dc, null, 2)}\n`);
  if (p.git.dirty) console.warn(`warning: built from a tree with uncommitted changes (${p.git.commit}); commit before you mint a DOI`);
  console.log(`${entry.name} ${p.bundleSha256}\n  ${join(out, "codemeta.json")}\n  ${join(out, "datacite.json")}`);
}

main().catch((err: Error) => {
  console.error(`cite: ${err.message}`);
  process.exit(1);
});
