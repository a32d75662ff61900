// dCache clients: the storage-events API (channels, subscriptions, SSE stream), the namespace API
// and WebDAV transfers. Written against real dCache; the local storage in local/dcache behaves alike.
export * from "./endpoint.ts";
export * from "./events.ts";
export * from "./event-stream.ts";
export * from "./namespace.ts";
export * from "./webdav.ts";
