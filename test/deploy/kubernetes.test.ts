// The production files: Kubernetes manifests validated against the Kubernetes (and Prometheus
// operator) schemas, and the container's entrypoint and health check run as the image runs them.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap, Service } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { bundleProvider } from "../../scripts/build/provider.ts";
import { projectRoot, startService } from "../support/service.ts";

const MODELS: Record<string, new (doc: any) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

const dir = join(projectRoot, "deploy/kubernetes");
const docs = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => ({ file: f, doc: d.toJS() as any })));
const byKind = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);

describe("deploy/kubernetes", () => {
  it("every manifest is valid against its Kubernetes schema", () => {
    expect(docs.length).to.be.greaterThan(5);
    for (const { file, doc } of docs) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`).to.not.equal(undefined);
      expect(() => new Model!(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`).to.not.throw();
    }
  });

  it("a schema violation is caught (the validation is real)", () => {
    const bad = structuredClone(byKind("Deployment")[0]);
    bad.spec.replicas = "two";
    expect(() => new Deployment(bad).validate()).to.throw();
  });

  it("runs at least two non-root provider replicas with /health probes, resources and a disruption budget", () => {
    const [dep] = byKind("Deployment");
    expect(dep.spec.replicas).to.be.at.least(2);
    const c = dep.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet.path).to.equal("/health");
    expect(c.livenessProbe.httpGet.path).to.equal("/health");
    expect(c.resources.requests).to.have.keys("cpu", "memory");
    expect(c.resources.limits).to.have.keys("cpu", "memory");
    expect(c.securityContext.readOnlyRootFilesystem).to.equal(true);
    expect(dep.spec.template.spec.securityContext.runAsNonRoot).to.equal(true);
    const secretKeys = c.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.name);
    expect(secretKeys).to.include.members(["PROVIDER_AUTH", "PROVIDER_KEY", "PROVIDER_STORE"]);
    const [pdb] = byKind("PodDisruptionBudget");
    expect(pdb.spec.selector.matchLabels).to.deep.equal(dep.spec.selector.matchLabels);
    expect(byKind("ServiceMonitor")[0].spec.endpoints[0].path).to.equal("/metrics");
    expect(byKind("NetworkPolicy")).to.have.length(1);
    expect(byKind("Job")[0].spec.template.spec.containers[0].command).to.deep.equal(["npx", "serverless", "deploy"]);
  });
});

describe("the provider image's entrypoint and health check", function () {
  this.timeout(120000);
  const dockerfile = readFileSync(join(projectRoot, "Dockerfile"), "utf8");
  // inside the project, so that the unbundled better-sqlite3 resolves as it does in the image
  const out = join(projectRoot, "dist", "provider-image-test");

  it("is declared non-root, with a health check on the bundle", () => {
    expect(dockerfile).to.match(/^USER node$/m);
    expect(dockerfile).to.match(/^HEALTHCHECK .*"node", "\/app\/healthcheck\.cjs"\]$/m);
    expect(dockerfile).to.match(/^ENTRYPOINT \["node", "\/app\/main\.cjs"\]$/m);
  });

  it("starts from the bundle as the image does, and the health check passes, then fails once it stops", async () => {
    await bundleProvider(projectRoot, out);
    const port = "0";
    const env = {
      PROVIDER_HOST: "127.0.0.1",
      PROVIDER_DATA_DIR: mkdtempSync(join(tmpdir(), "pdata-")),
      PROVIDER_AUTH: "feed:image-test-secret",
    };
    // `node main.cjs` is what ENTRYPOINT runs; startService runs it through tsx, which loads .cjs as is.
    const svc = await startService(join(out, "main.cjs"), ["--port", port], { listeners: ["provider"], env });
    const providerPort = new URL(svc.urls.provider!).port;
    const ok = spawnSync(process.execPath, [join(out, "healthcheck.cjs")], {
      env: { ...process.env, PROVIDER_PORT: providerPort },
      encoding: "utf8",
    });
    expect(ok.status, ok.stderr).to.equal(0);
    await svc.stop();
    const down = spawnSync(process.execPath, [join(out, "healthcheck.cjs")], {
      env: { ...process.env, PROVIDER_PORT: providerPort },
      encoding: "utf8",
    });
    expect(down.status).to.equal(1);
    expect(down.stderr).to.include(`not reachable on port ${providerPort}`);
  });
});
