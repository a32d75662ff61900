// DataCite metadata (the JSON:API body of `POST /dois` in the DataCite REST API) for one function
// version, ready to mint a DOI under a prefix. The DOI itself is assigned when it is minted.
import type { Provenance } from "../build/provenance.ts";
import type { Author, CitationInfo } from "./citation.ts";

function creator(a: Author): Record<string, unknown> {
  const c: Record<string, unknown> = a.familyName
    ? { name: `${a.familyName}, ${a.givenName ?? ""}`.trim(), nameType: "Personal", givenName: a.givenName, familyName: a.familyName }
    : { name: a.name, nameType: "Organizational" };
  if (a.orcid) c.nameIdentifiers = [{ nameIdentifier: a.orcid, nameIdentifierScheme: "ORCID", schemeUri: "https://orcid.org" }];
  if (a.affiliation) c.affiliation = [{ name: a.affiliation }];
  return c;
}

export interface DataCiteOptions {
  prefix: string;
  publisher: string;
  year: number;
}

export function datacite(info: CitationInfo, p: Provenance, functionName: string, o: DataCiteOptions): Record<string, unknown> {
  const related: Array<Record<string, string>> = [];
  if (info.repository) {
    related.push({ relatedIdentifier: info.repository, relatedIdentifierType: "URL", relationType: "IsSupplementTo" });
    if (p.git.commit) {
      related.push({
        relatedIdentifier: `${info.repository.replace(/\.git$/, "")}/commit/${p.git.commit}`,
        relatedIdentifierType: "URL",
        relationType: "IsDerivedFrom",
      });
    }
  }
  if (info.doi) related.push({ relatedIdentifier: info.doi, relatedIdentifierType: "DOI", relationType: "IsPartOf" });
  for (const [n, v] of Object.entries(p.dependencies)) {
    related.push({
      relatedIdentifier: `https://www.npmjs.com/package/${n}/v/${v}`,
      relatedIdentifierType: "URL",
      relationType: "Requires",
    });
  }
  return {
    data: {
      type: "dois",
      attributes: {
        prefix: o.prefix,
        creators: info.authors.map(creator),
        titles: [{ title: `${info.title}: ${functionName} function` }],
        publisher: { name: o.publisher },
        publicationYear: o.year,
        types: { resourceTypeGeneral: "Software", resourceType: "OpenWhisk action" },
        version: `${info.version}+${p.bundleSha256.slice(0, 12)}`,
        rightsList: [
          {
            rights: info.license,
            rightsUri: `https://spdx.org/licenses/${info.license}`,
            rightsIdentifier: info.license.toLowerCase(),
            rightsIdentifierScheme: "SPDX",
          },
        ],
        descriptions: [
          {
            description: `OpenWhisk action "${functionName}" (${p.kind}) built from ${p.source}; bundle SHA-256 ${p.bundleSha256}.`,
            descriptionType: "TechnicalInfo",
          },
        ],
        subjects: info.keywords.map((k) => ({ subject: k })),
        alternateIdentifiers: [{ alternateIdentifier: `sha256:${p.bundleSha256}`, alternateIdentifierType: "SHA-256" }],
        relatedIdentifiers: related,
        formats: ["application/zip"],
        language: "en",
      },
    },
  };
}

/** DataCite's mandatory properties, checked before a deposit. */
export function missingDataCiteFields(doc: Record<string, unknown>): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: a DataCite document read as it comes, checked field by field below
  const a = ((doc.data as Record<string, unknown>)?.attributes ?? {}) as Record<string, any>;
  const missing: string[] = [];
  if (!a.doi && !a.prefix) missing.push("identifier (doi or prefix)");
  if (!a.creators?.length || a.creators.some((c: { name?: string }) => !c.name)) missing.push("creators");
  if (!a.titles?.length || !a.titles[0].title) missing.push("titles");
  if (!a.publisher || !(typeof a.publisher === "string" ? a.publisher : a.publisher.name)) missing.push("publisher");
  if (!Number.isInteger(a.publicationYear)) missing.push("publicationYear");
  if (!a.types?.resourceTypeGeneral) missing.push("types.resourceTypeGeneral");
  return missing;
}
