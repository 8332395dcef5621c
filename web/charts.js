// charts.js: the charts of the live page, drawn with uPlot (MIT; embedded in the relay as
// /uPlot.iife.min.js, licence at /uPlot.LICENSE.txt). uPlot draws on a canvas and redraws
// thousands of points in well under a millisecond, which is what a page fed 50 frames a
// second needs; every chart here keeps at most MAX_POINTS points and redraws at most once per
// animation frame, however fast data arrives.

const uPlot = globalThis.uPlot;

export const MAX_POINTS = 2000;

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
const AXIS = () => ({ stroke: css("--muted"), grid: { stroke: "#1f2833", width: 1 }, ticks: { stroke: "#253040", width: 1 } });

/** 1.2B, -350M, 45K: for axes and legends. */
export function short(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  for (const [d, u] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]])
    if (a >= d) return (v / d).toFixed(a / d >= 100 ? 0 : 1).replace(/\.0$/, "") + u;
  return String(Math.round(v * 100) / 100);
}

function sizeOf(el, height) {
  return { width: Math.max(200, el.clientWidth || 600), height };
}

/**
 * A time series chart: x is seconds since 1970, one or more lines (or bars) on up to two
 * scales. push() appends a point to every series (null: no value); flush() hands the columns
 * to uPlot if anything changed.
 */
export class TimeChart {
  /**
   * @param {HTMLElement} el
   * @param {{title:string, height?:number, series:{label:string, color:string, scale?:string,
   *   bars?:boolean, fmt?:(v:number)=>string}[]}} spec scale "y" (left, default) or "y2" (right)
   */
  constructor(el, spec) {
    this.el = el;
    this.spec = spec;
    this.cols = [[], ...spec.series.map(() => [])];
    this.dirty = false;
    const usesY2 = spec.series.some((s) => s.scale === "y2");
    const usesShade = spec.series.some((s) => s.shade);
    const fmtOf = (scale) => (spec.series.find((s) => (s.scale || "y") === scale) || {}).fmt || short;
    const opts = {
      ...sizeOf(el, spec.height || 220),
      title: spec.title,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { auto: true }, ...(usesY2 ? { y2: { auto: true } } : {}),
        // a shade series marks intervals (1) over the whole height, with no axis of its own
        ...(usesShade ? { shade: { auto: false, range: [0, 1] } } : {}) },
      series: [
        { label: "Time", value: (u, v) => (v === null ? "–" : new Date(v * 1000).toLocaleTimeString()) },
        ...spec.series.map((s) => ({
          label: s.label,
          scale: s.shade ? "shade" : s.scale || "y",
          stroke: s.color,
          width: s.bars || s.shade ? 0 : 1.5,
          fill: s.shade ? s.color + "40" : s.bars ? s.color + "66" : undefined,
          paths: s.shade ? uPlot.paths.bars({ size: [1, Infinity, 1] }) : s.bars ? uPlot.paths.bars({ size: [0.8, 6, 1] }) : undefined,
          points: { show: false },
          spanGaps: !s.bars && !s.shade,
          value: (u, v) => (v === null || v === undefined ? "–" : (s.fmt || short)(v)),
        })),
      ],
      axes: [
        AXIS(),
        { ...AXIS(), scale: "y", size: 58, values: (u, vals) => vals.map(fmtOf("y")) },
        ...(usesY2 ? [{ ...AXIS(), scale: "y2", side: 1, size: 58, grid: { show: false },
          values: (u, vals) => vals.map(fmtOf("y2")) }] : []),
      ],
    };
    this.u = new uPlot(opts, this.cols, el);
  }

  /** Appends a point at t seconds; values in series order. Time never runs backwards here. */
  push(t, values) {
    const xs = this.cols[0];
    if (xs.length && t < xs[xs.length - 1]) t = xs[xs.length - 1];
    xs.push(t);
    for (let i = 0; i < values.length; i++) this.cols[i + 1].push(values[i] ?? null);
    if (xs.length > MAX_POINTS) for (const c of this.cols) c.splice(0, c.length - MAX_POINTS);
    this.dirty = true;
  }

  /** Number of points held. */
  get length() { return this.cols[0].length; }

  /** The last value of series i (0-based, not counting x), or undefined. */
  last(i) { const c = this.cols[i + 1]; return c[c.length - 1]; }

  reset() {
    this.cols = [[], ...this.spec.series.map(() => [])];
    this.dirty = true;
  }

  flush() {
    if (!this.dirty) return;
    this.dirty = false;
    this.u.setData(this.cols);
  }

  resize() { this.u.setSize(sizeOf(this.el, this.u.height)); }
  destroy() { this.u.destroy(); }
}

/**
 * Bars by category (ticker): two series side by side per category, the categories given in
 * order with set(). onPick(category) is called when a bar (or its column) is clicked.
 */
export class BarChart {
  /**
   * @param {HTMLElement} el
   * @param {{title:string, height?:number, series:{label:string, color:string}[],
   *   onPick?:(category:string)=>void}} spec
   */
  constructor(el, spec) {
    this.el = el;
    this.spec = spec;
    this.categories = [];
    this.dirty = false;
    const n = spec.series.length;
    const opts = {
      ...sizeOf(el, spec.height || 220),
      title: spec.title,
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: false, range: (u) => [-0.5, Math.max(0.5, this.categories.length - 0.5)] }, y: { auto: true, range: (u, lo, hi) => [0, Math.max(1, hi * 1.08)] } },
      series: [
        { label: "Ticker", value: (u, i) => this.categories[i] ?? "–" },
        ...spec.series.map((s, k) => ({
          label: s.label,
          stroke: s.color,
          fill: s.color + "cc",
          width: 0,
          points: { show: false },
          // side by side: each series takes its share of the category's width
          paths: uPlot.paths.bars({ disp: {
            x0: { unit: 1, values: () => this.categories.map((_, i) => i - 0.4 + k * (0.8 / n)) },
            size: { unit: 1, values: () => [0.8 / n] },
          } }),
          value: (u, v) => (v === null || v === undefined ? "–" : "$" + short(v)),
        })),
      ],
      axes: [
        { ...AXIS(), grid: { show: false }, rotate: -45, size: 48, font: "11px system-ui, sans-serif",
          splits: () => this.categories.map((_, i) => i),
          values: (u, splits) => splits.map((i) => this.categories[i] ?? "") },
        { ...AXIS(), size: 58, values: (u, vals) => vals.map((v) => "$" + short(v)) },
      ],
    };
    this.u = new uPlot(opts, [[], ...spec.series.map(() => [])], el);
    this.u.over.style.cursor = "pointer";
    this.u.over.addEventListener("click", () => {
      const i = this.u.cursor.idx;
      if (i !== null && i !== undefined && this.categories[i] !== undefined && spec.onPick)
        spec.onPick(this.categories[i]);
    });
  }

  /** categories: names in order; values: one array per series, same length. */
  set(categories, values) {
    this.categories = categories;
    this.values = values;
    this.dirty = true;
  }

  flush() {
    if (!this.dirty) return;
    this.dirty = false;
    this.u.setData([this.categories.map((_, i) => i), ...this.values]);
  }

  /** Page coordinates of the centre of category i's column (for tests and keyboard users). */
  centerOf(i) {
    const r = this.u.over.getBoundingClientRect();
    return { x: r.left + this.u.valToPos(i, "x"), y: r.top + r.height / 2 };
  }

  resize() { this.u.setSize(sizeOf(this.el, this.u.height)); }
  destroy() { this.u.destroy(); }
}
