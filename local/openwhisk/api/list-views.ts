// What a collection list shows of each entity: the fields of OpenWhisk's list views, never the
// parameters or code, which often hold credentials and which clients must GET one by one.
import type { Doc } from "../store/entities.ts";

function common(doc: Doc): Record<string, unknown> {
  return {
    namespace: doc.namespace,
    name: doc.name,
    version: doc.version,
    publish: doc.publish,
    annotations: doc.annotations,
    updated: doc.updated,
  };
}

export function actionListItem(doc: Doc): Record<string, unknown> {
  return { ...common(doc), limits: doc.limits, exec: { binary: (doc.exec as { binary?: boolean } | undefined)?.binary ?? false } };
}

/** `binding` is `false` for an ordinary package (its own document has `{}`), else `{namespace, name}`. */
export function packageListItem(doc: Doc): Record<string, unknown> {
  const b = doc.binding as { namespace?: string; name?: string } | undefined;
  return { ...common(doc), binding: b?.name ? { namespace: b.namespace, name: b.name } : false };
}

export function triggerListItem(doc: Doc): Record<string, unknown> {
  return common(doc);
}
