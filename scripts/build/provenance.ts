// What exactly an action bundle is: the SHA-256 of its bytes, the git commit it was built from
// (and whether the tree had uncommitted changes), the versions of the packages bundled into it
// (read from package-lock.json), and the runtime kind it is built for.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { Metafile } from "esbuild";

export const RUNTIME_KIND = "nodejs:20";

export interface Provenance {
  action: string;
  /** SHA-256 of the bundle (index.js), hex: the function version's identity */
  bundleSha256: string;
  /** SHA-256 of the zip that is deployed, hex */
  zipSha256: string;
  kind: string;
  /** the entry file, relative to the project */
  source: string;
  git: { commit: string | null; dirty: boolean | null };
  /** npm packages bundled into the action: name → version from package-lock.json */
  dependencies: Record<string, string>;
  /** the repository, from package.json, for citation and for humans */
  repository?: string;
}

export interface GitState {
  commit: string | null;
  dirty: boolean | null;
}

export function gitState(dir: string): GitState {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: dir, encoding: "utf8" });
  if (head.status !== 0) return { commit: null, dirty: null };
  const status = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: dir, encoding: "utf8" });
  return { commit: head.stdout.trim(), dirty: status.status === 0 ? status.stdout.trim().length > 0 : null };
}

/** The package owning a bundled file: the part after the last node_modules/ (scoped names kept). */
function packageDirOf(input: string): string | null {
  const parts = input.split(/[\\/]/);
  const i = parts.lastIndexOf("node_modules");
  if (i < 0 || i + 1 >= parts.length) return null;
  const scoped = parts[i + 1]!.startsWith("@");
  return parts.slice(0, i + (scoped ? 3 : 2)).join("/");
}

/** The nearest package-lock.json at or above a folder, with the folder it is in. */
function findLock(dir: string): { lockDir: string; packages: Record<string, { version?: string }> } | null {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "package-lock.json"))) {
      const lock = JSON.parse(readFileSync(join(d, "package-lock.json"), "utf8"));
      return { lockDir: d, packages: lock.packages ?? {} };
    }
    if (dirname(d) === d) return null;
  }
}

/** Packages esbuild took files from (metafile inputs are relative to workDir), with their versions. */
export function bundledDependencies(metafile: Metafile, workDir: string): Record<string, string> {
  const lock = findLock(workDir);
  const deps: Record<string, string> = {};
  for (const input of Object.keys(metafile.inputs)) {
    const pkgDir = packageDirOf(input);
    if (!pkgDir) continue;
    const abs = resolve(workDir, pkgDir);
    const name = pkgDir.slice(pkgDir.lastIndexOf("node_modules/") + "node_modules/".length);
    let version = lock ? lock.packages[relative(lock.lockDir, abs).split(sep).join("/")]?.version : undefined;
    if (!version) {
      try {
        version = JSON.parse(readFileSync(join(abs, "package.json"), "utf8")).version as string;
      } catch {
        version = "unknown";
      }
    }
    deps[name] = version;
  }
  return Object.fromEntries(Object.entries(deps).sort(([a], [b]) => a.localeCompare(b)));
}

export function repositoryOf(projectDir: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(projectDir, "package.json"), "utf8"));
    return typeof pkg.repository === "string" ? pkg.repository : pkg.repository?.url;
  } catch {
    return undefined;
  }
}
