// better-sqlite3 compiles SQL on every prepare(), which costs more than running a simple statement:
// stores that name their SQL where they use it take it from here, compiled once per database.
import type Database from "better-sqlite3";

export function statementCache(db: Database.Database): (sql: string) => Database.Statement {
  const compiled = new Map<string, Database.Statement>();
  return (sql) => {
    let st = compiled.get(sql);
    if (!st) {
      st = db.prepare(sql);
      compiled.set(sql, st);
    }
    return st;
  };
}
