// Chooses the store from configuration: a postgres:// URL, or SQLite in the data directory.
import { join } from "node:path";
import { PostgresStore, parsePostgresUrl } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./types.ts";

export async function openStore(opts: { store?: string; dataDir: string }): Promise<Store> {
  const spec = opts.store ?? "sqlite";
  let store: Store;
  if (/^postgres(ql)?:\/\//.test(spec)) store = new PostgresStore(parsePostgresUrl(spec));
  else if (spec === "sqlite") store = new SqliteStore(join(opts.dataDir, "provider.sqlite"));
  else if (spec.startsWith("sqlite:")) store = new SqliteStore(spec.slice("sqlite:".length));
  else
    throw new Error(
      `unknown store "${spec}": use "sqlite" (default, in the data directory), "sqlite:/path/file.sqlite" or "postgres://host/db[?schema=name]"`,
    );
  await store.migrate();
  return store;
}
