// The parts of serverless@3 and serverless-openwhisk@0.18.4 this plugin touches, typed loosely.
export interface OwClient {
  feeds: {
    create(o: FeedCall): Promise<Activation>;
    delete(o: FeedCall): Promise<Activation>;
  };
  namespaces: { list(): Promise<string[]> };
  activations: { get(o: { name: string }): Promise<Activation> };
  triggers: { create(o: unknown): Promise<unknown> };
}

export interface FeedCall {
  feedName: string;
  namespace: string;
  trigger: string;
  params?: Record<string, unknown>;
}

export interface Activation {
  activationId?: string;
  response?: { success?: boolean; status?: string; result?: unknown };
}

export interface Provider {
  client(): Promise<OwClient>;
  props(): Promise<{ apihost?: string; auth?: string; namespace?: string }>;
}

export interface FunctionObject {
  handler?: string;
  sequence?: string[];
  name?: string;
  package?: { artifact?: string; disable?: boolean; individually?: boolean };
}

export interface CompiledAction {
  actionName: string;
  action: { exec: { code?: string; kind?: string; main?: string }; annotations?: Array<{ key: string; value: unknown }> };
}

export interface TriggerConfig {
  namespace?: string;
  parameters?: Record<string, unknown>;
  feed?: string;
  feed_parameters?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
}

export interface Serverless {
  serviceDir?: string;
  config: { servicePath: string };
  service: {
    service: string;
    provider: { namespace?: string };
    package: { individually?: boolean };
    getAllFunctions(): string[];
    getFunction(name: string): FunctionObject;
    actions?: Record<string, CompiledAction>;
    resources?: { triggers?: Record<string, TriggerConfig> };
  };
  getProvider(name: "openwhisk"): Provider;
  pluginManager: { getPlugins(): Array<Record<string, unknown>> };
  classes: { Error: new (message: string) => Error };
}

export interface Logger {
  notice(msg: string): void;
  info(msg: string): void;
  warning(msg: string): void;
  verbose(msg: string): void;
}
