// Who and what to cite, from CITATION.cff (preferred) and package.json.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export interface Author {
  givenName?: string;
  familyName?: string;
  /** an organisation, or a person given as one name */
  name?: string;
  orcid?: string;
  affiliation?: string;
  email?: string;
}

export interface CitationInfo {
  title: string;
  abstract?: string;
  authors: Author[];
  /** SPDX identifier, e.g. Apache-2.0 */
  license: string;
  repository?: string;
  version: string;
  keywords: string[];
  /** the DOI of the whole project, when it has one */
  doi?: string;
}

interface Cff {
  title?: string;
  abstract?: string;
  authors?: Array<{ "given-names"?: string; "family-names"?: string; name?: string; orcid?: string; affiliation?: string; email?: string }>;
  license?: string | string[];
  "repository-code"?: string;
  version?: string;
  keywords?: string[];
  doi?: string;
}

export function readCitationInfo(projectDir: string): CitationInfo {
  const pkg = JSON.parse(readFileSync(join(projectDir, "package.json"), "utf8"));
  const cffPath = join(projectDir, "CITATION.cff");
  const cff: Cff = existsSync(cffPath) ? (parse(readFileSync(cffPath, "utf8")) as Cff) : {};
  const authors: Author[] = (cff.authors ?? []).map((a) => ({
    givenName: a["given-names"],
    familyName: a["family-names"],
    name: a.name,
    orcid: a.orcid,
    affiliation: a.affiliation,
    email: a.email,
  }));
  if (authors.length === 0 && pkg.author) {
    authors.push({ name: typeof pkg.author === "string" ? pkg.author.replace(/\s*<.*$/, "") : pkg.author.name });
  }
  const license = Array.isArray(cff.license) ? cff.license[0] : (cff.license ?? pkg.license);
  const title = cff.title ?? pkg.description ?? pkg.name;
  const missing = [!title && "title", authors.length === 0 && "authors", !license && "license"].filter(Boolean);
  if (missing.length) {
    throw new Error(`cannot cite: ${missing.join(", ")} missing; add them to CITATION.cff (or package.json)`);
  }
  return {
    title,
    abstract: cff.abstract ?? pkg.description,
    authors,
    license,
    repository: cff["repository-code"] ?? (typeof pkg.repository === "string" ? pkg.repository : pkg.repository?.url),
    version: cff.version ?? pkg.version,
    keywords: cff.keywords ?? pkg.keywords ?? [],
    doi: cff.doi,
  };
}
