// A subset of Rucio's RSE expression language: RSE names, attribute terms `key=value`, union `|`,
// intersection `&`, difference `\`, and parentheses. Unknown names resolve to nothing (an error).
export interface Rse {
  name: string;
  attributes: Record<string, string>;
}

export class InvalidExpression extends Error {}

export function resolveExpression(expr: string, rses: Rse[]): string[] {
  let pos = 0;
  const peek = () => expr[pos];
  const term = (): Set<string> => {
    if (peek() === "(") {
      pos++;
      const s = union();
      if (peek() !== ")") throw new InvalidExpression(`missing ")" in RSE expression ${expr}`);
      pos++;
      return s;
    }
    const m = /^[A-Za-z0-9_.-]+(=[A-Za-z0-9_.-]+)?/.exec(expr.slice(pos));
    if (!m) throw new InvalidExpression(`RSE expression ${expr} is invalid at position ${pos}`);
    pos += m[0].length;
    const [key, value] = m[0].split("=") as [string, string | undefined];
    const hits = rses.filter((r) => (value === undefined ? r.name === key : r.attributes[key] === value)).map((r) => r.name);
    if (!hits.length) throw new InvalidExpression(`RSE expression ${expr} resolved to an empty set (${m[0]} matches no RSE)`);
    return new Set(hits);
  };
  const union = (): Set<string> => {
    let acc = term();
    while (pos < expr.length && peek() !== ")") {
      const op = expr[pos++];
      const right = term();
      if (op === "|") acc = new Set([...acc, ...right]);
      else if (op === "&") acc = new Set([...acc].filter((x) => right.has(x)));
      else if (op === "\\") acc = new Set([...acc].filter((x) => !right.has(x)));
      else throw new InvalidExpression(`RSE expression ${expr}: unknown operator ${op}`);
    }
    return acc;
  };
  const result = union();
  if (pos !== expr.length) throw new InvalidExpression(`RSE expression ${expr} is invalid at position ${pos}`);
  if (!result.size) throw new InvalidExpression(`RSE expression ${expr} resolved to an empty set`);
  return [...result].sort();
}
