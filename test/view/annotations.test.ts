// The catalogue annotations the build puts on each action: generated from the action's schemas, so
// the samples must be valid instances of those very schemas (checked by ajv, not by our generator),
// and parameters must say what the schema says (required list, defaults named in descriptions).
import { expect } from "chai";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { join } from "node:path";
import { catalogueAnnotations, type CatalogueParameter } from "../../scripts/build/annotations.ts";
import { projectEntries } from "../../scripts/build/entries.ts";
import { MASK, maskSecrets } from "../../scripts/build/secrets.ts";

const root = join(import.meta.dirname, "../..");
const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

describe("catalogue annotations (scripts/build/annotations.ts)", () => {
  const withSchema = projectEntries(root).filter((e) => !["hello", "dcache-feed"].includes(e.name));

  for (const entry of withSchema) {
    it(`${entry.name}: sampleInput and sampleOutput are valid instances of its params and result schemas`, async () => {
      const ann = Object.fromEntries((await catalogueAnnotations(entry)).map((a) => [a.key, a.value]));
      expect(ann).to.have.keys("description", "parameters", "sampleInput", "sampleOutput");
      const mod = (await import(join(root, "functions", entry.name, "schema.ts"))) as Record<string, object>;
      const ajv = new Ajv({ allErrors: true, strict: false });
      (addFormats as unknown as (a: Ajv) => void)(ajv);
      const params = ajv.compile(mod.paramsSchema!);
      expect(params(ann.sampleInput), JSON.stringify(params.errors)).to.equal(true);
      const result = ajv.compile(mod[Object.keys(mod).find((k) => k.endsWith("ResultSchema"))!]!);
      expect(result(ann.sampleOutput), JSON.stringify(result.errors)).to.equal(true);
      const required = ((mod.paramsSchema as { required?: string[] }).required ?? []).slice().sort();
      expect(
        (ann.parameters as CatalogueParameter[])
          .filter((p) => p.required)
          .map((p) => p.name)
          .sort(),
      ).to.deep.equal(required);
    });
  }

  it("checksum: types, defaults from the descriptions, credentials marked secret and never given a value", async () => {
    const ann = Object.fromEntries(
      (await catalogueAnnotations(withSchema.find((e) => e.name === "checksum")!)).map((a) => [a.key, a.value]),
    );
    const p = Object.fromEntries((ann.parameters as CatalogueParameter[]).map((x) => [x.name, x]));
    expect(p.webdavUrl).to.include({ required: true, type: "string" });
    expect(p.concurrency).to.include({ required: false, type: "integer", default: 4 });
    expect(p.requireStorageChecksum).to.include({ type: "boolean", default: false });
    expect(p.dcachePassword).to.include({ secret: true });
    expect(p.dcacheUser!.secret).to.equal(undefined);
    expect(ann.description).to.match(/^checksum: streams each file from dCache WebDAV/);
  });
});

describe("masking secrets (scripts/build/secrets.ts)", () => {
  it("masks credential parameters in OpenWhisk key/value lists and objects, and userinfo in URLs", () => {
    const pkg = {
      name: "facility",
      parameters: [
        { key: "dcacheUser", value: "demo" },
        { key: "dcachePassword", value: "s3cret" },
        { key: "providerAuth", value: "feed:abc" },
        { key: "source", value: { kind: "dcache", auth: { username: "u", password: "p" }, url: "https://u:p@dcache.example.org" } },
        { key: "mqttUrl", value: "mqtt://acct:pw@broker:1883" },
      ],
      annotations: [{ key: "parameters", value: [{ name: "dcachePassword", secret: true }] }],
    };
    const m = maskSecrets(pkg);
    const v = Object.fromEntries(m.parameters.map((p) => [p.key, p.value]));
    expect(v.dcacheUser).to.equal("demo");
    expect(v.dcachePassword).to.equal(MASK);
    expect(v.providerAuth).to.equal(MASK);
    expect((v.source as { auth: unknown }).auth).to.equal(MASK);
    expect((v.source as { url: string }).url).to.equal("https://dcache.example.org");
    expect(v.mqttUrl).to.equal("mqtt://broker:1883");
    expect(JSON.stringify(m)).not.to.match(/s3cret|abc|acct|pw@/);
    expect(m.annotations[0]!.value).to.deep.equal([{ name: "dcachePassword", secret: true }]);
  });
});
