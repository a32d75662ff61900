// The trigger body serverless-openwhisk 0.18.4 should send: it drops `parameters` (the client sends
// only `options.trigger` as the body) and keeps only the feed annotation.
import type { TriggerConfig } from "./upstream.ts";
import { splitFeed } from "./feeds.ts";

export interface TriggerBody {
  parameters: Array<{ key: string; value: unknown }>;
  annotations: Array<{ key: string; value: unknown }>;
}

export function triggerBody(config: TriggerConfig): TriggerBody {
  const parameters = Object.entries(config.parameters ?? {}).map(([key, value]) => ({ key, value }));
  const annotations = Object.entries(config.annotations ?? {}).map(([key, value]) => ({ key, value }));
  if (config.feed) {
    const { namespace, feedName } = splitFeed(config.feed);
    annotations.push({ key: "feed", value: `/${namespace}/${feedName}` });
  }
  return { parameters, annotations };
}
