// Where OpenWhisk is and who we are, read as the wsk CLI and serverless-openwhisk read it:
// OW_APIHOST / OW_AUTH / OW_NAMESPACE (or __OW_* inside an action), else WSK_CONFIG_FILE or ~/.wskprops.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface OpenWhiskConfig {
  /** with scheme: a bare host is taken as https, as the openwhisk client does */
  apihost: string;
  auth: string;
  namespace?: string;
}

function parseProps(text: string): Record<string, string> {
  const props: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = line.match(/^\s*([A-Z_]+)\s*=\s*(.*?)\s*$/);
    if (m) props[m[1]!] = m[2]!;
  }
  return props;
}

export function readOpenWhiskConfig(env: NodeJS.ProcessEnv = process.env): OpenWhiskConfig {
  const file = env.WSK_CONFIG_FILE ?? join(env.HOME ?? homedir(), ".wskprops");
  const props = existsSync(file) ? parseProps(readFileSync(file, "utf8")) : {};
  const apihost = env.OW_APIHOST ?? env.__OW_API_HOST ?? props.APIHOST;
  const auth = env.OW_AUTH ?? env.__OW_API_KEY ?? props.AUTH;
  const namespace = env.OW_NAMESPACE ?? env.__OW_NAMESPACE ?? props.NAMESPACE;
  if (!apihost || !auth) {
    throw new Error(`no OpenWhisk to talk to: set OW_APIHOST and OW_AUTH, or point WSK_CONFIG_FILE at a wskprops file (looked in ${file})`);
  }
  return { apihost: /^https?:\/\//.test(apihost) ? apihost : `https://${apihost}`, auth, namespace: namespace || undefined };
}
