// Glob patterns on absolute file paths, compiled once to a RegExp: `*` and `?` stay within one path
// segment, `**` spans any number of segments (also none), `{a,b}` alternates, `[abc]`/`[!a-z]` classes.
// A pattern without a leading `/` matches at any depth (like `**/pattern`).

export class GlobError extends Error {}

function escapeChar(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

function translate(p: string, i: number, stopAt: string): { re: string; i: number } {
  let re = "";
  while (i < p.length) {
    const c = p[i]!;
    if (stopAt.includes(c)) return { re, i };
    if (c === "*") {
      if (p[i + 1] === "*") {
        const atStart = i === 0 || p[i - 1] === "/";
        const atEnd = i + 2 === p.length || p[i + 2] === "/" || stopAt.includes(p[i + 2] ?? "");
        if (!atStart || !atEnd) throw new GlobError(`"**" must be a whole path segment, as in "a/**/b"`);
        if (p[i + 2] === "/") {
          re += "(?:[^/]*/)*"; // zero or more whole segments
          i += 3;
        } else {
          re += ".*";
          i += 2;
        }
      } else {
        re += "[^/]*";
        i += 1;
      }
    } else if (c === "?") {
      re += "[^/]";
      i += 1;
    } else if (c === "[") {
      const end = p.indexOf("]", i + 2);
      if (end < 0) throw new GlobError(`unclosed "[" at position ${i}`);
      let body = p.slice(i + 1, end);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      re += `[${negate ? "^/" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
      i = end + 1;
    } else if (c === "{") {
      const alts: string[] = [];
      i += 1;
      for (;;) {
        const part = translate(p, i, ",}");
        alts.push(part.re);
        i = part.i;
        if (i >= p.length) throw new GlobError(`unclosed "{" in pattern`);
        if (p[i] === "}") {
          i += 1;
          break;
        }
        i += 1; // ','
      }
      re += `(?:${alts.join("|")})`;
    } else if (c === "\\" && i + 1 < p.length) {
      re += escapeChar(p[i + 1]!);
      i += 2;
    } else {
      re += escapeChar(c);
      i += 1;
    }
  }
  if (stopAt) throw new GlobError(`unclosed "{" in pattern`);
  return { re, i };
}

export function compileGlob(pattern: string): RegExp {
  const anchored = pattern.startsWith("/") ? pattern : `**/${pattern}`;
  try {
    return new RegExp(`^${anchored.startsWith("**/") ? "(?:/|)" : ""}${translate(anchored, 0, "").re}$`);
  } catch (e) {
    if (e instanceof GlobError) throw new GlobError(`glob "${pattern}": ${e.message}`);
    throw new GlobError(`glob "${pattern}" cannot be compiled: ${(e as Error).message}`);
  }
}
