// Who may use the storage: HTTP Basic users and bearer tokens from a JSON file (validated), each
// mapped to a uid (which owns event channels) and a home directory (which confines its paths).
import { readFileSync } from "node:fs";
import { timingSafeEqual, createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Ajv } from "ajv";

export interface Account {
  username: string;
  uid: number;
  gid: number;
  /** dCache path every request of this user is confined to */
  home: string;
}

interface AccountEntry extends Account {
  password?: string;
  tokens?: string[];
}

export interface AccountsFile {
  accounts: AccountEntry[];
}

/** The documented demo account, used when no accounts file is given. */
export const DEMO_ACCOUNTS: AccountsFile = {
  accounts: [{ username: "demo", password: "demo", uid: 1000, gid: 1000, home: "/", tokens: ["demo-token"] }],
};

const schema = {
  type: "object",
  required: ["accounts"],
  additionalProperties: false,
  properties: {
    accounts: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["username", "uid", "home"],
        additionalProperties: false,
        properties: {
          username: { type: "string", minLength: 1, pattern: "^[^:]+$" },
          password: { type: "string", minLength: 1 },
          tokens: { type: "array", items: { type: "string", minLength: 8 } },
          uid: { type: "integer", minimum: 0 },
          gid: { type: "integer", minimum: 0, default: 0 },
          home: { type: "string", pattern: "^/(.*[^/])?$" },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, useDefaults: true }).compile<AccountsFile>(schema);

export function parseAccounts(json: unknown, source: string): AccountsFile {
  if (!validate(json)) {
    const why = validate.errors!.map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
    throw new Error(
      `accounts in ${source} are invalid: ${why}. Expected {"accounts":[{"username","password"?,"tokens"?:[…],"uid","gid"?,"home"}]}`,
    );
  }
  return json;
}

export function loadAccounts(file: string | undefined): AccountsFile {
  if (!file) return DEMO_ACCOUNTS;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read the accounts file ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`the accounts file ${file} is not JSON: ${(e as Error).message}`);
  }
  return parseAccounts(json, file);
}

export type AuthResult = { account: Account } | { anonymous: true } | { rejected: string };

// Constant-time comparison of digests, so that the time taken does not reveal a prefix of a secret.
function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

export class Authenticator {
  constructor(private readonly file: AccountsFile) {}

  /** Reads `Authorization: Basic|Bearer` or the `authz` query parameter (a bearer token). */
  authenticate(req: IncomingMessage, url: URL): AuthResult {
    const header = req.headers.authorization;
    const queryToken = url.searchParams.get("authz");
    if (header) {
      const m = /^(\w+)\s+(.+)$/.exec(header.trim());
      if (!m) return { rejected: "the Authorization header is malformed; use Basic or Bearer credentials" };
      const scheme = m[1]!.toLowerCase();
      if (scheme === "basic") {
        const decoded = Buffer.from(m[2]!, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        if (colon < 0) return { rejected: "Basic credentials must be base64 of user:password" };
        const user = decoded.slice(0, colon);
        const password = decoded.slice(colon + 1);
        const entry = this.file.accounts.find((a) => a.username === user);
        if (entry?.password !== undefined && sameSecret(entry.password, password)) return { account: toAccount(entry) };
        return { rejected: "unknown user or wrong password" };
      }
      if (scheme === "bearer") return this.byToken(m[2]!);
      return { rejected: `unsupported authorization scheme "${m[1]}"; use Basic or Bearer` };
    }
    if (queryToken) return this.byToken(queryToken);
    return { anonymous: true };
  }

  private byToken(token: string): AuthResult {
    const entry = this.file.accounts.find((a) => a.tokens?.some((t) => sameSecret(t, token)));
    return entry ? { account: toAccount(entry) } : { rejected: "the bearer token is not known or has expired" };
  }
}

function toAccount(e: AccountEntry): Account {
  return { username: e.username, uid: e.uid, gid: e.gid ?? 0, home: e.home };
}
