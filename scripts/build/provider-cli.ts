// npm run build:provider — bundles the feed provider into dist/provider/ for the container image.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleProvider } from "./provider.ts";
import { formatBytes } from "./table.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
bundleProvider(root, join(root, "dist", "provider")).then(
  (r) => console.log(`feed provider bundle ${r.main} (${formatBytes(r.bytes)})`),
  (e: Error) => {
    console.error(`build:provider: ${e.message}`);
    process.exit(1);
  },
);
