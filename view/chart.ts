// A time-series chart drawn by uPlot (https://github.com/leeoniya/uPlot): x is time in seconds.
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import type { VNode } from "preact";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLORS = ["#2f6fbd", "#d0542f", "#3a9a4b", "#8a4fbd", "#b08a1e"];

export function Chart(props: { title: string; series: string[]; data: Array<Array<number | null>>; testid: string; unit?: string }): VNode {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    if (!el.current) return;
    plot.current = new uPlot(
      {
        title: props.title,
        width: 560,
        height: 220,
        series: [
          {},
          ...props.series.map((s, i) => ({
            label: s,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            value: (_: uPlot, v: number | null) => (v == null ? "–" : `${+v.toFixed(2)}${props.unit ?? ""}`),
          })),
        ],
        axes: [{}, { size: 60 }],
      },
      props.data as uPlot.AlignedData,
      el.current,
    );
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);
  return html`<div class="chart" data-testid=${props.testid} ref=${el}></div>`;
}
