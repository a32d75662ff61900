// What a NeXus entry says about its dataset, merged from the NXentry and its NXsubentries
// (application definitions such as NXmx keep title, instrument and sample there). The entry's own
// value wins over a subentry's; a value the file does not give stays undefined, so a caller's
// defaults apply only to what the file leaves out.
import type { NexusEntry, NexusSample, NexusUser } from "./nexus.ts";

export interface NexusFacts {
  title?: string;
  /** Application definitions: the entry's, then its subentries' (e.g. ["NXmx"]). */
  definitions: string[];
  startTime?: string;
  endTime?: string;
  proposal?: string;
  run?: string;
  description?: string;
  /** NXinstrument `name`, else the group's name unless it is the generic "instrument". */
  instrument?: string;
  /** NXsource `name`. */
  source?: string;
  /** Where the data was made: NXsource facility_name, else the short_name of its name, else its name. */
  facility?: string;
  /** "facility:instrument" (ESS writes "ESS:CODA"), or whichever of the two the file gives. */
  creationLocation?: string;
  sample?: NexusSample;
  users: NexusUser[];
  /** The user whose role says principal investigator, else the first user. */
  pi?: NexusUser;
  /** The PI's email, else the first email any user gives. */
  contactEmail?: string;
}

const PI_ROLE = /^\s*(pi|principal[\s_-]*investigator)\s*$/i;

/** Group names that say nothing about which instrument it is. */
const GENERIC_INSTRUMENT_GROUPS = new Set(["instrument"]);

function first<T>(values: Array<T | undefined>): T | undefined {
  return values.find((v) => v !== undefined && v !== "");
}

export function nexusFacts(entry: NexusEntry): NexusFacts {
  const all = [entry, ...(entry.subentries ?? [])];
  const instruments = all.map((e) => e.instrument).filter((i) => !!i);
  const instrument =
    first(instruments.map((i) => i!.name)) ??
    first(instruments.map((i) => (i!.group && !GENERIC_INSTRUMENT_GROUPS.has(i!.group.toLowerCase()) ? i!.group : undefined)));
  const sources = instruments.map((i) => i!.source).filter((s) => !!s);
  const source = first(sources.map((s) => s!.name));
  const facility = first(sources.map((s) => s!.facility_name)) ?? first(sources.map((s) => s!.short_name)) ?? source;
  const users = all.flatMap((e) => e.users);
  const pi = users.find((u) => u.role && PI_ROLE.test(u.role)) ?? users[0];
  const facts: NexusFacts = {
    title: first(all.map((e) => e.title)),
    definitions: [...new Set(all.map((e) => e.definition).filter((d): d is string => !!d))],
    startTime: first(all.map((e) => e.start_time)),
    endTime: first(all.map((e) => e.end_time)),
    proposal: first(all.map((e) => e.experiment_identifier)),
    run: first(all.map((e) => e.entry_identifier)),
    description: first(all.map((e) => e.experiment_description)),
    instrument,
    source,
    facility,
    creationLocation: [facility, instrument].filter((x) => !!x).join(":") || undefined,
    sample: all.map((e) => e.sample).find((s) => s && Object.keys(s).some((k) => k !== "path")),
    users,
    pi,
    contactEmail: pi?.email ?? first(users.map((u) => u.email)),
  };
  return Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) as unknown as NexusFacts;
}
