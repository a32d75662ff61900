// A list that renders only the rows in view (fixed row height), so 10,000s of rows stay fast.
import { html } from "htm/preact";
import { useState } from "preact/hooks";
import type { VNode } from "preact";

export function VirtualList<T>(props: {
  items: T[];
  rowHeight?: number;
  height?: number;
  row: (item: T, i: number) => VNode;
  testid?: string;
}): VNode {
  const rh = props.rowHeight ?? 28;
  const height = props.height ?? 520;
  const [top, setTop] = useState(0);
  const first = Math.max(0, Math.floor(top / rh) - 10);
  const last = Math.min(props.items.length, Math.ceil((top + height) / rh) + 10);
  const rows = [];
  for (let i = first; i < last; i++)
    rows.push(html`<div class="vrow" style=${`top:${i * rh}px;height:${rh}px`}>${props.row(props.items[i]!, i)}</div>`);
  return html`<div class="vlist" data-testid=${props.testid} data-rows=${props.items.length} style=${`height:${height}px`} onScroll=${(e: Event) => setTop((e.currentTarget as HTMLElement).scrollTop)}>
    <div style=${`height:${props.items.length * rh}px;position:relative`}>${rows}</div>
  </div>`;
}
