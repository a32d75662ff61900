// The delivery cursor of a dCache registration: the channel and the id of the last event whose
// consequences are in the outbox. Event ids count per channel, so an id means nothing on another
// channel (a frontend restart makes a new one): then the registration must rescan instead.
export interface DcacheCursor {
  channel: string;
  id: number;
}

export function encodeCursor(c: DcacheCursor): string {
  return JSON.stringify({ channel: c.channel, id: c.id });
}

export function decodeCursor(s: string | null): DcacheCursor | null {
  if (!s) return null;
  try {
    const v = JSON.parse(s) as Partial<DcacheCursor>;
    if (typeof v.channel === "string" && typeof v.id === "number" && Number.isInteger(v.id)) return { channel: v.channel, id: v.id };
  } catch {
    // a cursor from another source kind: start afresh
  }
  return null;
}
