// The Metrics view: live charts of the gateway's `system.metrics` samples (uPlot).
import { isProtocolError, type MetricsFigures, metricsFigures, type SystemMetrics } from "@openclaw/protocol";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h, type ViewContext } from "./dom";

/** How often the view asks for a sample while it is shown, in ms. */
export const METRICS_INTERVAL_MS = 2000;
/** Samples the charts keep (5 minutes at {@link METRICS_INTERVAL_MS}). */
export const METRICS_HISTORY = 150;

/** The Metrics view. */
export interface MetricsView {
  readonly root: HTMLElement;
  /** Shows or hides the view: it samples only while shown. */
  setVisible(visible: boolean): void;
}

/** One chart: its title, series (label, colour) and how a sample's figures give its values. */
interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  series: Array<{ label: string; stroke: string; value: (f: MetricsFigures) => number | undefined }>;
}

const CHARTS: ChartSpec[] = [
  {
    id: "chart-connections",
    title: "Connections",
    unit: "",
    series: [{ label: "open", stroke: "#3257d6", value: (f) => f.connections }],
  },
  {
    id: "chart-messages",
    title: "Messages",
    unit: "per second",
    series: [
      { label: "frames in", stroke: "#3257d6", value: (f) => f.framesInPerSecond },
      { label: "frames out", stroke: "#1f8a4c", value: (f) => f.framesOutPerSecond },
      { label: "channel in", stroke: "#b7791f", value: (f) => f.messagesInPerSecond },
      { label: "channel out", stroke: "#8a3fd1", value: (f) => f.messagesOutPerSecond },
    ],
  },
  {
    id: "chart-requests",
    title: "Request latency",
    unit: "ms",
    series: [
      { label: "p50", stroke: "#3257d6", value: (f) => f.requestP50Ms },
      { label: "p99", stroke: "#c53030", value: (f) => f.requestP99Ms },
    ],
  },
  {
    id: "chart-delivery",
    title: "Delivery queue",
    unit: "",
    series: [
      { label: "waiting", stroke: "#3257d6", value: (f) => f.queueDepth },
      { label: "dead letters", stroke: "#c53030", value: (f) => f.deadLetters },
    ],
  },
  {
    id: "chart-agents",
    title: "Agent latency",
    unit: "ms",
    series: [
      { label: "p50", stroke: "#3257d6", value: (f) => f.agentP50Ms },
      { label: "p99", stroke: "#c53030", value: (f) => f.agentP99Ms },
    ],
  },
];

/** A figure for a tile or an axis: "–" when there is none, else rounded to its size. */
function fmt(value: number | undefined, unit = ""): string {
  if (value === undefined) return "–";
  if (value >= 10_000) return `${Math.round(value / 1000)}k${unit === "" ? "" : ` ${unit}`}`;
  const rounded =
    Number.isInteger(value) || value >= 100
      ? Math.round(value)
      : value >= 10
        ? value.toFixed(1)
        : value.toFixed(2);
  return `${rounded}${unit === "" ? "" : ` ${unit}`}`;
}

/** A tick of the time axis (seconds since the epoch) as the time of day. */
const clock = (seconds: number): string =>
  new Date(seconds * 1000).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });

/**
 * Builds the Metrics view: number tiles and one chart per figure, sampled every
 * {@link METRICS_INTERVAL_MS} while shown.
 *
 * @param ctx - The page's client.
 * @returns The view (hidden until {@link MetricsView.setVisible}).
 */
export function createMetricsView(ctx: ViewContext): MetricsView {
  const note = h(
    "p",
    { id: "metrics-note", class: "empty", role: "status" },
    "Waiting for the first sample…",
  );
  const tile = (id: string, label: string) => {
    const value = h("span", { id, class: "tile-value" }, "–");
    return { value, root: h("div", { class: "tile" }, h("span", { class: "tile-label" }, label), value) };
  };
  const tiles = {
    connections: tile("metric-connections", "connections"),
    framesIn: tile("metric-frames-in", "frames in"),
    framesOut: tile("metric-frames-out", "frames out"),
    requestP50: tile("metric-request-p50", "request p50"),
    requestP99: tile("metric-request-p99", "request p99"),
    queue: tile("metric-queue", "delivery queue"),
    agentP50: tile("metric-agent-p50", "agent p50"),
    agentP99: tile("metric-agent-p99", "agent p99"),
  };
  const tileRow = h("section", { class: "tiles" }, ...Object.values(tiles).map((t) => t.root));
  const charts = CHARTS.map((spec) => {
    const box = h("div", { class: "chart-box" });
    const title = spec.unit === "" ? spec.title : `${spec.title} (${spec.unit})`;
    const root = h("section", { id: spec.id, class: "card chart" }, h("h2", {}, title), box);
    return { spec, box, root, plot: undefined as uPlot | undefined };
  });
  const root = h(
    "main",
    { id: "metrics", class: "metrics-view", hidden: "" },
    note,
    tileRow,
    h("div", { class: "charts" }, ...charts.map((c) => c.root)),
  );

  const samples: MetricsFigures[] = [];
  let previous: SystemMetrics | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let visible = false;
  let inFlight = false;
  /** Bumped by every show and hide: a loop of an earlier show stops. */
  let generation = 0;

  const size = (box: HTMLElement) => ({ width: Math.max(200, box.clientWidth), height: 180 });
  const data = (spec: ChartSpec): uPlot.AlignedData => [
    samples.map((f) => f.ts / 1000),
    ...spec.series.map((s) => samples.map((f) => s.value(f) ?? null)),
  ];
  const draw = () => {
    for (const chart of charts) {
      if (chart.plot === undefined) {
        if (chart.box.clientWidth === 0) continue; // not laid out yet
        chart.plot = new uPlot(
          {
            ...size(chart.box),
            legend: { live: false },
            cursor: { show: false },
            scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
            axes: [
              {
                stroke: "#6b7385",
                grid: { stroke: "#e3e6ec" },
                space: 80,
                // Whole seconds at least: samples are seconds apart.
                incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
                values: (_u, ticks) => ticks.map(clock),
              },
              {
                stroke: "#6b7385",
                grid: { stroke: "#e3e6ec" },
                size: 48,
                values: (_u, ticks) => ticks.map((t) => fmt(t)),
              },
            ],
            series: [
              {},
              ...chart.spec.series.map((s) => ({
                label: s.label,
                stroke: s.stroke,
                width: 2,
                spanGaps: false,
                value: (_u: uPlot, v: number | null) => fmt(v ?? undefined),
              })),
            ],
          },
          data(chart.spec),
          chart.box,
        );
      } else chart.plot.setData(data(chart.spec));
    }
  };
  const resize = new ResizeObserver(() => {
    for (const chart of charts) chart.plot?.setSize(size(chart.box));
    draw();
  });
  for (const chart of charts) resize.observe(chart.box);

  const render = (f: MetricsFigures) => {
    tiles.connections.value.textContent = String(f.connections);
    tiles.framesIn.value.textContent = fmt(f.framesInPerSecond, "/s");
    tiles.framesOut.value.textContent = fmt(f.framesOutPerSecond, "/s");
    tiles.requestP50.value.textContent = fmt(f.requestP50Ms, "ms");
    tiles.requestP99.value.textContent = fmt(f.requestP99Ms, "ms");
    const oldest = f.queueDepth > 0 ? `, oldest ${fmt(f.queueOldestSeconds, "s")}` : "";
    const dead = f.deadLetters > 0 ? ` (${f.deadLetters} dead)` : "";
    tiles.queue.value.textContent = `${f.queueDepth}${oldest}${dead}`;
    tiles.agentP50.value.textContent = fmt(f.agentP50Ms, "ms");
    tiles.agentP99.value.textContent = fmt(f.agentP99Ms, "ms");
    const ago = new Date(f.ts).toLocaleTimeString();
    note.textContent = `Live: a sample every ${METRICS_INTERVAL_MS / 1000} s, the last at ${ago}.`;
    root.dataset.samples = String(samples.length);
  };

  const sample = async () => {
    if (inFlight || ctx.client.state !== "ready") return;
    inFlight = true;
    try {
      const current = await ctx.call("system.metrics");
      const figures = metricsFigures(current, previous);
      previous = current;
      samples.push(figures);
      if (samples.length > METRICS_HISTORY) samples.shift();
      render(figures);
      draw();
    } catch (error) {
      note.textContent =
        isProtocolError(error) && error.code === "UNAVAILABLE"
          ? "Metrics are off on this gateway (metrics.enabled)."
          : `Could not read the metrics: ${(error as Error).message}`;
    } finally {
      inFlight = false;
    }
  };
  const loop = (gen: number) => {
    timer = setTimeout(() => {
      void sample().finally(() => {
        if (visible && gen === generation) loop(gen);
      });
    }, METRICS_INTERVAL_MS);
  };

  return {
    root,
    setVisible(show) {
      if (show === visible) return;
      visible = show;
      root.hidden = !show;
      const gen = ++generation;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (show) {
        void sample().finally(() => {
          draw();
          if (visible && gen === generation) loop(gen);
        });
      }
    },
  };
}
