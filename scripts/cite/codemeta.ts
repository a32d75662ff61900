// CodeMeta (https://w3id.org/codemeta/3.0) for one function version. Only terms that CodeMeta 2.0
// and 3.0 both define are used, so either context reads it.
import type { Provenance } from "../build/provenance.ts";
import type { Author, CitationInfo } from "./citation.ts";

function person(a: Author): Record<string, unknown> {
  const p: Record<string, unknown> = a.familyName
    ? { "@type": "Person", givenName: a.givenName, familyName: a.familyName }
    : { "@type": "Organization", name: a.name };
  if (a.orcid) p["@id"] = a.orcid;
  if (a.email) p.email = a.email;
  if (a.affiliation) p.affiliation = { "@type": "Organization", name: a.affiliation };
  return p;
}

export function codemeta(info: CitationInfo, p: Provenance, functionName: string): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    "@context": "https://w3id.org/codemeta/3.0",
    "@type": "SoftwareSourceCode",
    name: `${functionName} (${info.title})`,
    description: `OpenWhisk action "${functionName}" built from ${p.source}. ${info.abstract ?? ""}`.trim(),
    version: `${info.version}+${p.bundleSha256.slice(0, 12)}`,
    identifier: [`sha256:${p.bundleSha256}`, ...(info.doi ? [`https://doi.org/${info.doi}`] : [])],
    author: info.authors.map(person),
    license: `https://spdx.org/licenses/${info.license}`,
    programmingLanguage: "TypeScript",
    runtimePlatform: `Apache OpenWhisk ${p.kind}`,
    softwareRequirements: Object.entries(p.dependencies).map(([n, v]) => `${n}@${v}`),
    keywords: info.keywords,
  };
  if (info.repository) {
    doc.codeRepository = info.repository;
    if (p.git.commit) doc.relatedLink = [`${info.repository.replace(/\.git$/, "")}/commit/${p.git.commit}`];
  }
  return doc;
}
