// All channels of this frontend, in memory (a restart loses them, as in dCache), at most
// `maximumPerUser` per uid.
import { Channel, type ChannelSettings } from "./channel.ts";

export const LIFETIME = { minimum: 1, maximum: 86400, default: 300 };
export const MAX_CLIENT_ID_LENGTH = 256;

export class TooManyChannels extends Error {}

export class Registrar {
  private readonly channels = new Map<string, Channel>();

  constructor(
    readonly settings: ChannelSettings,
    readonly maximumPerUser = 128,
  ) {}

  create(uid: number, username: string, clientId: string | undefined, urlOf: (id: string) => string): Channel {
    const owned = [...this.channels.values()].filter((c) => c.uid === uid).length;
    if (owned >= this.maximumPerUser)
      throw new TooManyChannels(
        `you already have ${owned} channels, the maximum per user; delete unused channels or reuse one found by client-id`,
      );
    const channel = new Channel(uid, username, clientId, urlOf, LIFETIME.default, this.settings, (c) => this.channels.delete(c.id));
    this.channels.set(channel.id, channel);
    return channel;
  }

  get(id: string): Channel | undefined {
    return this.channels.get(id);
  }

  /** Channels of `uid`; with clientId (possibly "" = created without one) only those matching. */
  list(uid: number, clientId?: string): Channel[] {
    return [...this.channels.values()].filter(
      (c) => c.uid === uid && (clientId === undefined || (clientId === "" ? c.clientId === undefined : c.clientId === clientId)),
    );
  }

  shutdown(): void {
    for (const c of [...this.channels.values()]) c.shutdown();
  }
}
