// The smallest real action: greets, and tells which activation and action answered, so a deploy
// can be checked end to end (`wsk action invoke <service>-dev-hello -p name Ada -r`).
export interface HelloParams {
  name?: unknown;
}

export interface HelloResult {
  greeting: string;
  action?: string;
  activation?: string;
}

export async function main(params: HelloParams): Promise<HelloResult | { error: string }> {
  if (params.name !== undefined && typeof params.name !== "string") {
    return { error: `parameter "name" must be a string, got ${typeof params.name}; pass it as -p name Ada` };
  }
  const who = params.name?.trim() || "stranger";
  return {
    greeting: `Hello, ${who}!`,
    action: process.env.__OW_ACTION_NAME,
    activation: process.env.__OW_ACTIVATION_ID,
  };
}
