import { expect } from "chai";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { projectRoot } from "../support/service.ts";

const run = promisify(execFile);

// Terms that both CodeMeta 2.0 (doi:10.5063/schema/codemeta-2.0) and 3.0 (w3id.org/codemeta/3.0)
// define, plus JSON-LD keywords.
const CODEMETA_TERMS = new Set([
  "@context",
  "@type",
  "@id",
  "name",
  "description",
  "version",
  "softwareVersion",
  "identifier",
  "author",
  "contributor",
  "maintainer",
  "license",
  "codeRepository",
  "programmingLanguage",
  "runtimePlatform",
  "softwareRequirements",
  "softwareSuggestions",
  "keywords",
  "relatedLink",
  "url",
  "givenName",
  "familyName",
  "email",
  "affiliation",
  "dateCreated",
  "dateModified",
  "datePublished",
  "downloadUrl",
  "funder",
  "funding",
  "issueTracker",
  "readme",
  "buildInstructions",
  "developmentStatus",
  "publisher",
  "referencePublication",
  "operatingSystem",
  "applicationCategory",
  "copyrightHolder",
  "copyrightYear",
  "fileSize",
  "fileFormat",
  "isPartOf",
  "hasPart",
]);

function keysOf(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) {
    for (const x of v) keysOf(x, out);
  } else if (v && typeof v === "object")
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      keysOf(x, out);
    }
  return out;
}

describe("npm run cite", function () {
  this.timeout(120000);
  const out = mkdtempSync(join(tmpdir(), "cite-"));
  let codemeta: any;
  let datacite: any;

  before(async () => {
    await run(process.execPath, ["--import", "tsx", "scripts/cite/cli.ts", "hello", "--out", out, "--prefix", "10.80000"], {
      cwd: projectRoot,
    });
    codemeta = JSON.parse(readFileSync(join(out, "hello", "codemeta.json"), "utf8"));
    datacite = JSON.parse(readFileSync(join(out, "hello", "datacite.json"), "utf8"));
  });

  it("writes codemeta.json using only CodeMeta 2/3 terms, identifying the exact bundle", () => {
    expect(codemeta["@context"]).to.equal("https://w3id.org/codemeta/3.0");
    expect(codemeta["@type"]).to.equal("SoftwareSourceCode");
    const unknown = keysOf(codemeta).filter((k) => !CODEMETA_TERMS.has(k));
    expect(unknown, "keys that are no CodeMeta term").to.deep.equal([]);
    const sha = createHash("sha256")
      .update(readFileSync(join(projectRoot, "dist/actions/hello/index.js")))
      .digest("hex");
    expect(codemeta.identifier).to.include(`sha256:${sha}`);
    expect(codemeta.author).to.have.length.greaterThan(0);
    expect(codemeta.license).to.equal("https://spdx.org/licenses/Apache-2.0");
  });

  it("writes DataCite metadata with every mandatory property", () => {
    const a = datacite.data.attributes;
    expect(datacite.data.type).to.equal("dois");
    expect(a.prefix).to.equal("10.80000");
    expect(a.creators).to.be.an("array").that.is.not.empty;
    for (const c of a.creators) expect(c.name).to.be.a("string").and.not.empty;
    expect(a.titles[0].title).to.match(/hello function/);
    expect(a.publisher.name).to.be.a("string").and.not.empty;
    expect(a.publicationYear).to.equal(new Date().getUTCFullYear());
    expect(a.types.resourceTypeGeneral).to.equal("Software");
    expect(a.alternateIdentifiers[0].alternateIdentifier).to.equal(codemeta.identifier[0]);
    expect(a.relatedIdentifiers.map((r: { relationType: string }) => r.relationType)).to.include("IsSupplementTo");
  });

  it("names the functions there are when asked for one that is not", async () => {
    const err = await run(process.execPath, ["--import", "tsx", "scripts/cite/cli.ts", "nope", "--out", out], { cwd: projectRoot }).catch(
      (e) => e,
    );
    expect(err.code).to.equal(1);
    expect(err.stderr).to.match(/no function named nope: npm run cite -- <function>, one of .*hello/);
  });
});
