// The project's serverless plugin, loaded after serverless-openwhisk. It
// - builds every handler function with esbuild (scripts/build) before packaging, deploy, `deploy
//   function` and `invoke local`, and ships each action as its own zip: its bundle and a package.json,
//   never the service folder, node_modules or secret files;
// - deploys trigger `parameters` and binds triggers to their feeds on deploy (DELETE, then CREATE,
//   failing the deploy when the feed refuses), and unbinds them on remove with the real namespace.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { catalogueAnnotations, type Annotation } from "../build/annotations.ts";
import { bundleActions, type BuiltAction } from "../build/bundle.ts";
import { entryOfHandler, mainOfHandler } from "../build/entries.ts";
import { typecheck } from "../build/typecheck.ts";
import { sizeTable } from "../build/table.ts";
import { bindFeed, feedBindings, resolveNamespace, unbindFeed } from "./feeds.ts";
import { triggerBody } from "./triggers.ts";
import type { CompiledAction, Logger, Serverless } from "./upstream.ts";

type Hook = () => Promise<void> | void;

const silentLog: Logger = {
  notice: (m) => console.log(m),
  info: (m) => console.log(m),
  warning: (m) => console.warn(m),
  verbose: () => {},
};

export default class OpenWhiskEsbuildPlugin {
  readonly hooks: Record<string, Hook>;
  private readonly log: Logger;
  private built = new Map<string, BuiltAction>();
  private catalogue = new Map<string, Annotation[]>();

  constructor(
    private readonly serverless: Serverless,
    private readonly options: { function?: string; verbose?: boolean },
    utils?: { log?: Logger },
  ) {
    this.log = utils?.log ?? silentLog;
    this.hooks = {
      initialize: () => this.fixUpstream(),
      "before:package:createDeploymentArtifacts": () => this.buildAll(),
      "after:package:compileFunctions": () => this.shipOwnZips(),
      "before:deploy:function:packageFunction": () => this.buildOne(this.options.function!),
      "before:deploy:function:deploy": () => this.shipOwnZipForDeployFunction(),
      "before:invoke:local:invoke": () => this.buildForInvokeLocal(this.options.function!),
    };
  }

  private get serviceDir(): string {
    return this.serverless.serviceDir ?? this.serverless.config.servicePath;
  }

  private handlerFunctions(): string[] {
    const svc = this.serverless.service;
    return svc.getAllFunctions().filter((n) => svc.getFunction(n).handler);
  }

  private async build(names: string[]): Promise<void> {
    if (names.length === 0) return;
    if (process.env.SKIP_TYPECHECK !== "1") typecheck(this.serviceDir);
    const svc = this.serverless.service;
    const entries = names.map((n) => entryOfHandler(this.serviceDir, n, svc.getFunction(n).handler!));
    const built = await bundleActions(entries, join(this.serviceDir, "dist", "actions"), { projectDir: this.serviceDir });
    for (const b of built) this.built.set(b.name, b);
    for (const e of entries) this.catalogue.set(e.name, await catalogueAnnotations(e));
    this.log.notice(sizeTable(built));
  }

  /** Gives the function its own zip under .serverless/ as its artifact, so nothing else is packaged. */
  private useArtifact(name: string): void {
    const b = this.built.get(name)!;
    const dir = join(this.serviceDir, ".serverless");
    mkdirSync(dir, { recursive: true });
    const artifact = join(dir, `${name}.zip`);
    copyFileSync(b.zipPath, artifact);
    const fn = this.serverless.service.getFunction(name);
    fn.package = { ...fn.package, artifact: relative(this.serviceDir, artifact) };
  }

  private async buildAll(): Promise<void> {
    const names = this.handlerFunctions();
    await this.build(names);
    this.serverless.service.package.individually = true;
    for (const n of names) this.useArtifact(n);
  }

  private async buildOne(name: string): Promise<void> {
    if (!this.serverless.service.getFunction(name).handler) return;
    await this.build([name]);
    this.useArtifact(name);
  }

  // serverless-openwhisk rewrites the artifact (package.json main = the handler's path, JSZip's
  // timestamps); the action must carry our zip byte for byte.
  private codeOf(name: string): string {
    return readFileSync(this.built.get(name)!.zipPath).toString("base64");
  }

  private shipOwnZips(): void {
    const actions = this.serverless.service.actions ?? {};
    for (const name of this.handlerFunctions()) {
      const compiled = actions[name];
      if (compiled && this.built.has(name)) this.ship(name, compiled);
    }
  }

  /** Our zip as the action's code, what it is as its `provenance` annotation, and its catalogue annotations. */
  private ship(name: string, compiled: CompiledAction): void {
    compiled.action.exec.code = this.codeOf(name);
    const catalogue = this.catalogue.get(name) ?? [];
    const ours = new Set(["provenance", ...catalogue.map((a) => a.key)]);
    const annotations = (compiled.action.annotations ?? []).filter((a) => !ours.has(a.key));
    annotations.push({ key: "provenance", value: this.built.get(name)!.provenance }, ...catalogue);
    compiled.action.annotations = annotations;
  }

  private shipOwnZipForDeployFunction(): void {
    const name = this.options.function!;
    if (!this.built.has(name)) return;
    const deployFn = this.upstream("OpenWhiskDeployFunction") as { action?: CompiledAction } | undefined;
    if (!deployFn?.action) throw new this.serverless.classes.Error(`internal: no compiled action for function ${name}`);
    this.ship(name, deployFn.action);
  }

  private async buildForInvokeLocal(name: string): Promise<void> {
    const fn = this.serverless.service.getFunction(name);
    if (!fn.handler) return;
    await this.build([name]);
    // invoke local require()s the handler's path: point it at the bundle OpenWhisk would run.
    fn.handler = `dist/actions/${name}/index.${mainOfHandler(fn.handler)}`;
  }

  private upstream(className: string): Record<string, unknown> | undefined {
    return this.serverless.pluginManager.getPlugins().find((p) => p.constructor?.name === className);
  }

  /** Replaces the three defective steps of serverless-openwhisk with correct ones. */
  private fixUpstream(): void {
    const deploy = this.upstream("OpenWhiskDeploy");
    const remove = this.upstream("OpenWhiskRemove");
    if (!deploy || !remove) {
      throw new this.serverless.classes.Error(
        "scripts/serverless/plugin.cjs needs serverless-openwhisk: list it before this plugin under `plugins` in serverless.yml",
      );
    }
    const resources = () => this.serverless.service.resources?.triggers ?? {};
    const provider = this.serverless.getProvider("openwhisk");
    const say = (m: string) => this.log.info(m);

    // Trigger PUT bodies with their parameters and the feed annotation.
    deploy.getTriggers = (triggers: Record<string, Record<string, unknown>>) =>
      Object.entries(triggers).map(([name, t]) => {
        const { feed: _feed, ...rest } = t;
        return { ...rest, trigger: triggerBody(resources()[name] ?? {}) };
      });

    deploy.deployFeeds = async () => {
      const bindings = feedBindings(resources());
      if (!bindings.length) return;
      this.log.notice("Binding feeds to triggers...");
      const ow = await provider.client();
      const ns = await resolveNamespace(ow, (await provider.props()).namespace ?? this.serverless.service.provider.namespace);
      const results = await Promise.allSettled(bindings.map((b) => bindFeed(ow, b, ns, say)));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed.length) throw new this.serverless.classes.Error(failed.map((f) => (f.reason as Error).message).join("\n"));
    };

    remove.removeFeeds = async () => {
      const bindings = feedBindings(resources());
      if (!bindings.length) return;
      this.log.notice("Unbinding feeds from triggers...");
      const ow = await provider.client();
      const ns = await resolveNamespace(ow, (await provider.props()).namespace ?? this.serverless.service.provider.namespace);
      await Promise.all(bindings.map((b) => unbindFeed(ow, b, ns, say)));
    };
  }
}
