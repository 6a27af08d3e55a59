import nodeAssert from "node:assert/strict";
import { DOMParser } from "linkedom";
import {
  barBundle,
  barChartSVG,
  DisplayHandle,
  formatCount,
  formatDuration,
  formatValue,
  HEATMAP_RECT_LIMIT,
  heatmapBundle,
  heatmapSVG,
  inJupyter,
  lineChartSVG,
  linePlotBundle,
  LivePlot,
  markdownBundle,
  PLOTLY_MIME,
  type PlotlyFigure,
  Progress,
  quantileDomain,
  RecordingBackend,
  type Series,
  show,
  SVG_NS,
  svgToHtml,
  tableBundle,
} from "../lib/display/mod.ts";

// Small wrappers over node:assert (built in, so tests need no network).
const assert: (cond: unknown, msg?: string) => asserts cond = nodeAssert.ok;
const assertEquals = <T>(actual: T, expected: T, msg?: string): void =>
  nodeAssert.deepStrictEqual(actual, expected, msg);
const assertFalse = (cond: unknown, msg?: string): void => nodeAssert.ok(!cond, msg);
const assertMatch = (s: string, re: RegExp): void => nodeAssert.match(s, re);
const assertThrows = (fn: () => unknown): void => nodeAssert.throws(fn);
const assertStringIncludes = (s: string, part: string): void =>
  nodeAssert.ok(
    s.includes(part),
    `expected ${JSON.stringify(part)} in ${s.slice(0, 200)}`,
  );
const assertAlmostEquals = (a: number, b: number, tol: number): void =>
  nodeAssert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

interface XmlElement {
  tagName: string;
  localName: string;
  getAttribute(name: string): string | null;
  querySelectorAll(sel: string): XmlElement[];
  textContent: string;
}

/** Parses SVG as XML; fails on malformed markup. */
function parseSvg(svg: string): XmlElement {
  // A strict XML parse catches unescaped text/attributes.
  assertFalse(svg.startsWith("<?xml"), "inline-able: no XML prolog");
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  const root = doc.documentElement as unknown as XmlElement;
  assertEquals(root.localName, "svg");
  assertEquals(root.getAttribute("xmlns"), SVG_NS);
  assert(root.getAttribute("viewBox"));
  assertWellFormed(svg);
  return root;
}

/** A tiny tag-balance check (linkedom's parser is lenient). */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const between = xml.slice(last, m.index);
    assertFalse(between.includes("<"), `stray '<' near ${m.index}`);
    assertFalse(/&(?!amp;|lt;|gt;|quot;|#\d+;|apos;)/.test(between), "bare &");
    last = re.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) assertEquals(stack.pop(), name, `unbalanced </${name}>`);
    else if (!selfClose) stack.push(name);
  }
  assertEquals(stack.length, 0, "unclosed tags");
  assertFalse(xml.slice(last).includes("<"));
}

function count(root: XmlElement, sel: string): number {
  return root.querySelectorAll(sel).length;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// ---------------------------------------------------------------------------
// SVG
// ---------------------------------------------------------------------------

Deno.test("lineChartSVG draws one path and legend entry per series", () => {
  const series: Series[] = [
    { name: "train", x: range(100), y: range(100).map((i) => 3 / (i + 1)) },
    { name: "val <&>", x: [0, 50, 99], y: [3, 0.2, 0.1], dash: true },
    { name: "third", x: range(10), y: range(10) },
  ];
  const svg = lineChartSVG(series, {
    title: "Loss & accuracy",
    xLabel: "step",
    yLabel: "loss",
  });
  const root = parseSvg(svg);
  assertEquals(count(root, "path.series"), 3);
  assertEquals(count(root, "g.legend-item"), 3);
  assertEquals(root.getAttribute("width"), "640");
  assertEquals(root.getAttribute("height"), "360");
  assertStringIncludes(svg, "Loss &amp; accuracy");
  assertStringIncludes(svg, "val &lt;&amp;&gt;");
  const paths = root.querySelectorAll("path.series");
  assertEquals(paths[1].getAttribute("stroke-dasharray"), "6,4");
  assertEquals(paths[0].getAttribute("stroke-dasharray"), null);
  // Distinct Tableau10 colours.
  const colors = new Set(paths.map((p) => p.getAttribute("stroke")));
  assertEquals(colors.size, 3);
  assert(count(root, "g.x-axis g.tick") >= 3, "x ticks");
  assert(count(root, "g.y-axis g.tick") >= 3, "y ticks");
  assertEquals(count(root, "text.x-label"), 1);
  assertEquals(count(root, "text.y-label"), 1);
  // Compact coordinates: never more than one decimal in geometry.
  assertFalse(/\d\.\d\d/.test(paths[0].getAttribute("d") ?? ""));
  assertFalse(/translate\([^)]*\d\.\d\d/.test(svg));
});

Deno.test("lineChartSVG and linePlotBundle shade a band around a line, in its colour", () => {
  const series: Series[] = [
    {
      name: "mean",
      x: [0, 1, 2],
      y: [0.5, 0.6, 0.7],
      band: { lo: [0.4, 0.5, NaN], hi: [0.6, 2, 0.8] },
    },
    { name: "plain", x: [0, 1, 2], y: [0.1, 0.2, 0.3] },
  ];
  const svg = lineChartSVG(series);
  const root = parseSvg(svg);
  const bands = root.querySelectorAll("path.band");
  assertEquals(bands.length, 1);
  assertEquals(
    bands[0].getAttribute("fill"),
    root.querySelectorAll("path.series")[0].getAttribute("stroke"),
  );
  // The band's upper end (2) widens the y axis beyond every line's values.
  const yTicks = root.querySelectorAll("g.y-axis g.tick text").map((t) => Number(t.textContent));
  assert(Math.max(...yTicks) >= 1.5, `y ticks ${yTicks}`);
  // Bands come before lines, so lines are drawn on top.
  assert(svg.indexOf('class="band"') < svg.indexOf('class="series"'));
  const bundle = linePlotBundle(series, { title: "t" });
  const fig = bundle[PLOTLY_MIME] as PlotlyFigure;
  const traces = fig.data as { fill?: string; showlegend?: boolean; y: number[] }[];
  assertEquals(traces.length, 3);
  assertEquals(traces[0].fill, "toself");
  assertEquals(traces[0].showlegend, false);
  // Forth along hi, back along lo, skipping the point without a finite bound.
  assertEquals(traces[0].y, [0.6, 2, 0.5, 0.4]);
  assertStringIncludes(bundle["text/plain"] as string, "last 0.7 @ 2");
  assertStringIncludes(
    linePlotBundle([{
      ...series[0],
      y: [0.5, 0.6, 0.65],
      band: { lo: [0, 0, 0.6], hi: [1, 1, 0.7] },
    }])["text/plain"] as string,
    "(0.6–0.7)",
  );
});

Deno.test("lineChartSVG skips NaN/Infinity and non-positive log values", () => {
  const svg = lineChartSVG([
    { name: "a", x: [0, 1, 2, 3, 4], y: [1, NaN, Infinity, -Infinity, 2] },
    { name: "empty", x: [], y: [] },
    { name: "allnan", x: [1, 2], y: [NaN, NaN] },
  ]);
  const root = parseSvg(svg);
  assertFalse(svg.includes("NaN"));
  assertFalse(svg.includes("Infinity"));
  const d = root.querySelectorAll("path.series")[0].getAttribute("d") ?? "";
  assertEquals(d.split("L").length, 2, "two finite points -> one segment");
  assertEquals(count(root, "g.legend-item"), 3);

  const logSvg = lineChartSVG(
    [{ name: "lr", x: [0, 1, 10, 100], y: [0, 1e-4, 1e-3, -1] }],
    { logX: true, logY: true, yDomain: [1e-5, 1e-2] },
  );
  const logRoot = parseSvg(logSvg);
  assertFalse(logSvg.includes("NaN"));
  const ld = logRoot.querySelectorAll("path.series")[0].getAttribute("d") ?? "";
  assertEquals(ld.split("L").length, 2);
  assertEquals(count(logRoot, "clipPath"), 1, "yDomain clips");
});

Deno.test("lineChartSVG decimates very long series", () => {
  const n = 50_000;
  const svg = lineChartSVG([{
    name: "noisy",
    x: range(n),
    y: range(n).map((i) => Math.sin(i)),
  }]);
  const root = parseSvg(svg);
  const d = root.querySelectorAll("path.series")[0].getAttribute("d") ?? "";
  const points = d.split("L").length;
  assert(points < 4 * 640 && points > 500, `kept ${points} points`);
  assert(svg.length < 60_000, `svg is ${svg.length} bytes`);
});

Deno.test("heatmapSVG draws one rect per cell for small matrices", () => {
  const n = 8;
  const mask = range(n).map((i) => range(n).map((j) => j <= i ? 1 : -Infinity));
  const svg = heatmapSVG(mask, {
    title: "causal mask",
    colorScheme: "blues",
    rowLabels: range(n).map((i) => `t${i}`),
    colLabels: range(n).map((i) => `t${i}`),
    xLabel: "key",
    yLabel: "query",
  });
  const root = parseSvg(svg);
  const cells = root.querySelectorAll("rect.cell");
  assertEquals(cells.length, n * n);
  // -Infinity cells are drawn in the "missing" colour.
  const fills = cells.map((c) => c.getAttribute("fill"));
  assertEquals(fills.filter((f) => f === "#e0e0e0").length, (n * (n - 1)) / 2);
  assertEquals(new Set(fills).size, 2);
  assert(count(root, "rect.colorbar-step") > 10, "colour bar");
  assertStringIncludes(svg, 'shape-rendering="crispEdges"');
  assertFalse(/rect class="cell"[^>]*stroke/.test(svg), "no per-cell strokes");
  assertEquals(count(root, "g.x-axis g.tick"), n);
  // Cells tile the grid exactly (square cells, rounded edges line up).
  const xs = new Set(cells.map((c) => c.getAttribute("x")));
  assertEquals(xs.size, n);
});

Deno.test("heatmapSVG stays compact for 256x256 matrices", () => {
  const n = 256;
  assert(n * n > HEATMAP_RECT_LIMIT);
  const sim = range(n).map((i) =>
    range(n).map((j) => Math.cos((i - j) / 20) * Math.exp(-Math.abs(i - j) / 100))
  );
  const t0 = performance.now();
  const svg = heatmapSVG(sim, { title: "similarity" });
  const ms = performance.now() - t0;
  const root = parseSvg(svg);
  assertEquals(count(root, "rect.cell"), 0);
  assert(count(root, "g.runs path") <= 64, "one path per colour level");
  assert(svg.length < 900_000, `svg is ${svg.length} bytes`);
  assert(ms < 5000, `took ${ms} ms`);
  // Random data (no runs) still renders.
  const noise = range(100).map(() => range(100).map(() => Math.random()));
  parseSvg(heatmapSVG(noise));
});

Deno.test("barChartSVG draws one bar per finite value", () => {
  const svg = barChartSVG(
    ["bigram", "MLP", "a rather long model name", "broken"],
    [0.2, 0.4, 0.6, NaN],
    { title: "accuracy", yLabel: "acc" },
  );
  const root = parseSvg(svg);
  assertEquals(count(root, "rect.bar"), 3);
  assertEquals(count(root, "text.bar-value"), 3);
  assertEquals(count(root, "g.x-axis g.tick"), 4);
  // Negative values extend below the zero line.
  const neg = parseSvg(barChartSVG(["a", "b"], [-1, 2]));
  const [a, b] = neg.querySelectorAll("rect.bar");
  assertAlmostEquals(
    Number(a.getAttribute("y")),
    Number(b.getAttribute("y")) + Number(b.getAttribute("height")),
    0.11,
  );
});

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

const CHART_KEYS = [PLOTLY_MIME, "text/html", "text/plain"];

/** The SVG inside a chart bundle's `<img src="data:image/svg+xml;base64,…">`. */
function svgOfHtml(html: string): string {
  const m = /^<img src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)"/.exec(html);
  assert(m, `not an <img> with a base64 SVG data URL: ${html.slice(0, 80)}`);
  return new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
}

Deno.test("linePlotBundle has all MIME types and matching plotly traces", () => {
  const bundle = linePlotBundle([
    { name: "train", x: [0, 1, 2], y: [3, NaN, 1.5] },
    { name: "val", x: [0, 2], y: [3.2, 2], dash: true },
  ], { title: "loss", logY: true, yDomain: [1, 10] });
  assertEquals(Object.keys(bundle).sort(), [...CHART_KEYS].sort());
  const fig = bundle[PLOTLY_MIME] as PlotlyFigure;
  assertEquals(fig.data.length, 2);
  assertEquals(fig.data.map((t) => t.type), ["scatter", "scatter"]);
  assertEquals(fig.data.map((t) => t.name), ["train", "val"]);
  assertEquals(fig.data[0].y, [3, null, 1.5]);
  assertEquals((fig.data[1].line as { dash: string }).dash, "dash");
  const yaxis = fig.layout.yaxis as { type: string; range: number[] };
  assertEquals(yaxis.type, "log");
  assertEquals(yaxis.range, [0, 1]);
  // JSON-serialisable as-is (what the kernel sends).
  assertEquals(JSON.parse(JSON.stringify(fig)), fig);
  // The static chart is an image (untrusted front ends strip inline SVG): the same SVG
  // lineChartSVG draws, at its size, with the text summary as alt text.
  const html = bundle["text/html"] as string;
  assertEquals(
    svgOfHtml(html),
    lineChartSVG([
      { name: "train", x: [0, 1, 2], y: [3, NaN, 1.5] },
      { name: "val", x: [0, 2], y: [3.2, 2], dash: true },
    ], { title: "loss", logY: true, yDomain: [1, 10] }),
  );
  assertMatch(html, / width="640" height="360" alt="loss: train 3 pts/);
  assert(!/<svg/.test(html), "no inline SVG");
  // Plotly's toolbar must not cover the title.
  assertEquals(fig.layout.modebar, { orientation: "v" });
  assertEquals((fig.layout.title as { xanchor: string }).xanchor, "left");
  assertStringIncludes(
    bundle["text/plain"] as string,
    "train 3 pts, last 1.5 @ 2",
  );
  assertStringIncludes(bundle["text/plain"] as string, "val 2 pts, last 2 @ 2");
});

Deno.test("heatmapBundle and barBundle carry heatmap/bar traces", () => {
  const m = [[0, 1, 2], [3, NaN, 5]];
  const hb = heatmapBundle(m, { rowLabels: ["a", "b"], colorScheme: "blues" });
  assertEquals(Object.keys(hb).sort(), [...CHART_KEYS].sort());
  const hf = hb[PLOTLY_MIME] as PlotlyFigure;
  assertEquals(hf.data.length, 1);
  assertEquals(hf.data[0].type, "heatmap");
  assertEquals(hf.data[0].z, [[0, 1, 2], [3, null, 5]]);
  assertEquals(hf.data[0].y, ["a", "b"]);
  assertEquals([hf.data[0].zmin, hf.data[0].zmax], [0, 5]);
  assertEquals(
    (hf.layout.yaxis as { autorange: string }).autorange,
    "reversed",
  );
  assertEquals(hb["text/plain"], "Heatmap: 2x3, values 0 .. 5");
  assertEquals(
    svgOfHtml(hb["text/html"] as string),
    heatmapSVG(m, { rowLabels: ["a", "b"], colorScheme: "blues" }),
  );

  const bb = barBundle(["x", "y"], [0.5, 0.75], { title: "acc" });
  assertEquals(Object.keys(bb).sort(), [...CHART_KEYS].sort());
  const bf = bb[PLOTLY_MIME] as PlotlyFigure;
  assertEquals(bf.data[0].type, "bar");
  assertEquals(bf.data[0].x, ["x", "y"]);
  assertEquals(bf.data[0].y, [0.5, 0.75]);
  assertEquals(bb["text/plain"], "acc: x=0.5, y=0.75");
  assertEquals(
    svgOfHtml(bb["text/html"] as string),
    barChartSVG(["x", "y"], [0.5, 0.75], { title: "acc" }),
  );
});

Deno.test("svgToHtml keeps non-ASCII text and escapes the alt text", () => {
  const svg = `<svg xmlns="${SVG_NS}" width="12.5" height="8"><text>λ ≤ 1 — 名</text></svg>`;
  const html = svgToHtml(svg, 'a "quoted" <b>');
  assertEquals(svgOfHtml(html), svg);
  assertMatch(html, / width="12.5" height="8" alt="a &quot;quoted&quot; &lt;b&gt;"/);
  // Without a size on the root the image keeps its intrinsic size.
  assert(!/ width=/.test(svgToHtml(`<svg xmlns="${SVG_NS}"></svg>`)));
});

Deno.test("markdownBundle: HTML for untrusted front ends, plain text without markup", () => {
  const md =
    "Intro with `code`.\n\n- loss **1.68** nats/char\n- *i* < j & k\n\n_Moby-Dick_, snake_case";
  const b = markdownBundle(md);
  assertEquals(b["text/markdown"], md);
  assertEquals(
    b["text/html"],
    [
      "<p>Intro with <code>code</code>.</p>",
      "<ul>",
      "<li>loss <strong>1.68</strong> nats/char</li>",
      "<li><em>i</em> &lt; j &amp; k</li>",
      "</ul>",
      "<p><em>Moby-Dick</em>, snake_case</p>",
    ].join("\n"),
  );
  assertEquals(
    b["text/plain"],
    "Intro with code.\n\n• loss 1.68 nats/char\n• i < j & k\n\nMoby-Dick, snake_case",
  );
});

Deno.test("quantileDomain clips a few large values; colour bars label at least three ticks", () => {
  const m = Array.from(
    { length: 10 },
    (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 1 : 0.01 * ((i + j) % 10))),
  );
  const [lo, hi] = quantileDomain(m, 0.9);
  assertEquals(lo, 0);
  assert(hi < 0.1 && hi > 0, `upper end ${hi}`);
  assertEquals(quantileDomain([[2, 2]]), [2, 2]);
  assertEquals(quantileDomain([[NaN]]), [0, 1]);
  assertThrows(() => quantileDomain(m, 0));
  // A narrow domain on a short bar once got a single tick (0.1 on [0.001, 0.175]).
  for (const domain of [[0.001, 0.175], [0, 1], [-3, 7]] as [number, number][]) {
    const ticks = count(
      parseSvg(heatmapSVG([[domain[0], domain[1]]], { domain, height: 200 })),
      "g.colorbar g.tick",
    );
    assert(ticks >= 3, `colour bar over [${domain}] has ${ticks} ticks`);
  }
});

Deno.test("tableBundle renders html, markdown and aligned text", () => {
  const t = tableBundle([
    { model: "bigram", loss: 2.45678, params: 4225 },
    { model: "GPT <small>", loss: 1.7, params: 210_000 },
  ], { title: "results" });
  assertEquals(Object.keys(t).sort(), [
    "text/html",
    "text/markdown",
    "text/plain",
  ]);
  const html = t["text/html"] as string;
  assertStringIncludes(html, '<th style="text-align:left">model</th>');
  assertStringIncludes(html, "GPT &lt;small&gt;");
  assertStringIncludes(html, ">2.457<");
  assertStringIncludes(html, ">210,000<");
  assertEquals(
    t["text/markdown"],
    [
      "**results**",
      "",
      "| model | loss | params |",
      "| --- | ---: | ---: |",
      "| bigram | 2.457 | 4225 |",
      "| GPT <small> | 1.700 | 210,000 |",
    ].join("\n"),
  );
  const lines = (t["text/plain"] as string).split("\n");
  assertEquals(lines[0], "results");
  assertEquals(lines[1], "model         loss   params");
  assertEquals(lines[3], "bigram       2.457     4225");
  assertEquals(lines[4], "GPT <small>  1.700  210,000");
});

// ---------------------------------------------------------------------------
// Jupyter wrapper
// ---------------------------------------------------------------------------

Deno.test("outside the kernel inJupyter() is false", () => {
  assertFalse(inJupyter());
});

Deno.test("show and DisplayHandle send display_data then update_display_data", async () => {
  const be = new RecordingBackend();
  await show(
    { "text/plain": "hi", "text/html": "<b>hi</b>", skip: undefined },
    {
      backend: be,
    },
  );
  assertEquals(be.messages.length, 1);
  assertEquals(be.messages[0].msgType, "display_data");
  assertEquals(be.messages[0].content.data, {
    "text/plain": "hi",
    "text/html": "<b>hi</b>",
  });
  assertEquals(be.flushes, 1);

  const h = new DisplayHandle({ backend: be });
  assertFalse(h.shown);
  h.send({ "text/plain": "1" });
  await h.update({ "text/plain": "2" });
  const [first, second] = be.messages.slice(1);
  assertEquals(first.msgType, "display_data");
  assertEquals(second.msgType, "update_display_data");
  assertEquals(first.content.transient, { display_id: h.id });
  assertEquals(second.content.transient, { display_id: h.id });
  assertEquals(second.content.data, { "text/plain": "2" });
  assertEquals(be.flushes, 2);
  assert(new DisplayHandle().id !== h.id, "fresh ids");

  const off = new RecordingBackend(false);
  await show({ "text/plain": "plain", "text/html": "<i>x</i>" }, {
    backend: off,
  });
  new DisplayHandle({ backend: off }).send({ "text/html": "<i>x</i>" });
  assertEquals(off.messages.length, 0);
  assertEquals(off.printed, ["plain", "<display: text/html>"]);
});

// ---------------------------------------------------------------------------
// LivePlot
// ---------------------------------------------------------------------------

Deno.test("LivePlot throttles renders by its clock and finishes with final data", async () => {
  let t = 0;
  const be = new RecordingBackend();
  const plot = new LivePlot({
    title: "loss",
    intervalMs: 1000,
    dashed: ["val"],
    now: () => t,
    backend: be,
  });
  assertEquals(be.messages.length, 0, "nothing before the first push");
  plot.push("train", 0, 3); // first push displays immediately
  assertEquals(be.messages.length, 1);
  assertEquals(be.messages[0].msgType, "display_data");
  for (let step = 1; step <= 99; step++) {
    t = step * 25; // 25 ms per step -> 2.5 s in total
    plot.push("train", step, 3 / (step + 1));
    if (step % 10 === 0) plot.push("val", step, 3.5 / (step + 1));
  }
  // Renders at t = 0, 1000, 2000 only.
  assertEquals(be.messages.length, 3);
  assertEquals(plot.renders, 3);
  assert(
    be.messages.slice(1).every((m) => m.msgType === "update_display_data"),
  );
  const ids = new Set(
    be.messages.map((m) => (m.content.transient as { display_id: string }).display_id),
  );
  assertEquals(ids.size, 1, "a single display is updated in place");

  const final = await plot.finish();
  assertEquals(be.messages.length, 4, "finish forces a final update");
  assertEquals(be.messages[3].msgType, "update_display_data");
  assertEquals(be.flushes, 1);
  const fig = final[PLOTLY_MIME] as PlotlyFigure;
  assertEquals(fig.data.map((d) => d.name), ["train", "val"]);
  // Hidden kernel hook: `await plot.finish()` as a cell's value shows nothing.
  const hook = (final as Record<symbol, unknown>)[Symbol.for("Jupyter.display")];
  assertEquals(typeof hook, "function");
  assertEquals((hook as () => unknown)(), {});
  assertEquals(Object.keys(final).length, 3);
  assertEquals((fig.data[0].x as number[]).length, 100);
  assertEquals((fig.data[1].line as { dash: string }).dash, "dash");
  assertEquals(
    (be.messages[3].content.data as Record<string, unknown>)["text/plain"],
    final["text/plain"],
  );
  // Nothing new: finish() again does not resend, but still flushes.
  await plot.finish();
  assertEquals(be.messages.length, 4);
  assertEquals(be.flushes, 2);
});

Deno.test("LivePlot outside Jupyter only prints a summary on finish", async () => {
  const be = new RecordingBackend(false);
  const plot = new LivePlot({ title: "loss", backend: be });
  for (let i = 0; i < 50; i++) plot.pushAll(i, { train: 1 / (i + 1), val: 2 });
  assertEquals(be.printed.length, 0);
  assertEquals(plot.renders, 0);
  const bundle = await plot.finish();
  assertEquals(be.printed.length, 1);
  assertEquals(be.printed[0], bundle["text/plain"]);
  assertFalse(be.printed[0].includes("\n"));
  assertStringIncludes(be.printed[0], "train 50 pts, last 0.02 @ 49");
  assertEquals(plot.series().map((s) => s.name), ["train", "val"]);
});

Deno.test("LivePlot finish displays once even with no pushes", async () => {
  const be = new RecordingBackend();
  const plot = new LivePlot({ backend: be, now: () => 0 });
  await plot.finish();
  assertEquals(be.messages.map((m) => m.msgType), ["display_data"]);
});

// ---------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------

Deno.test("formatDuration and formatCount", () => {
  assertEquals(formatDuration(0), "0.0s");
  assertEquals(formatDuration(4.23), "4.2s");
  assertEquals(formatDuration(45.4), "45s");
  assertEquals(formatDuration(192), "3m12s");
  assertEquals(formatDuration(3599.6), "1h00m");
  assertEquals(formatDuration(3 * 3600 + 5 * 60 + 10), "3h05m");
  assertEquals(formatDuration(NaN), "?");
  assertEquals(formatCount(1834.4), "1,834");
  assertEquals(formatCount(999), "999");
  assertEquals(formatCount(1234567), "1,234,567");
  assertEquals(formatCount(-12345), "-12,345");
  assertEquals(formatCount(Infinity), "?");
  assertEquals(formatValue(2.31449), "2.314");
  assertEquals(formatValue(0.00001234), "1.2e-5");
  assertEquals(formatValue(42), "42");
});

Deno.test("Progress formats lines with a measured ETA", () => {
  let t = 5000;
  const lines: string[] = [];
  const p = new Progress({
    total: 2000,
    now: () => t,
    backend: new RecordingBackend(false),
    write: (l) => lines.push(l),
  });
  assertEquals(p.every, 100);
  p.tick(1, { loss: 4.2 });
  assertEquals(lines, ["step    1/2000 | loss 4.200"], "no ETA before a rate");
  t += 119 * 100; // 100 ms per step
  p.tick(120, { loss: 2.3141, val: 2.401, "tok/s": 1834.2 });
  assertEquals(p.eta(), 188);
  assertEquals(
    p.line(),
    "step  120/2000 | loss 2.314 | val 2.401 | 1,834 tok/s | ETA 3m08s",
  );
  assertEquals(lines.length, 2, "step 120 crossed the 100 boundary");
});

Deno.test("Progress prints about 20 lines outside Jupyter plus the final one", async () => {
  let t = 0;
  const lines: string[] = [];
  const p = new Progress({
    total: 2000,
    label: "iter",
    now: () => t,
    backend: new RecordingBackend(false),
    write: (l) => lines.push(l),
  });
  for (let step = 1; step <= 2000; step++) {
    t += 10;
    p.tick(step, { loss: 1 });
  }
  assertEquals(lines.length, 21); // step 1, then every 100 steps incl. 2000
  assertEquals(lines.at(-1), "iter 2000/2000 | loss 1 | done in 20s");
  // Final line already printed by tick(total): finish() does not repeat it.
  await p.finish();
  assertEquals(lines.length, 21);
  assertEquals(p.line(2000, { loss: 1 }, true), lines.at(-1));

  // Stopped early: finish() prints the final line.
  const early: string[] = [];
  const q = new Progress({
    total: 100,
    every: 50,
    now: () => t,
    backend: new RecordingBackend(false),
    write: (l) => early.push(l),
  });
  q.tick(10);
  q.tick(20);
  await q.finish({ loss: 3 });
  assertEquals(early.length, 2);
  assertMatch(early[1], /^step {2}20\/100 \| loss 3 \| done in /);
});

Deno.test("Progress updates one Jupyter display in place, throttled", async () => {
  let t = 0;
  const be = new RecordingBackend();
  const p = new Progress({
    total: 1000,
    intervalMs: 250,
    now: () => t,
    backend: be,
  });
  for (let step = 1; step <= 999; step++) {
    t += 1; // 1 ms per step -> renders at t = 1, 251, 501, 751
    p.tick(step, { loss: 2 });
  }
  assertEquals(be.messages.length, 4);
  t += 1;
  p.tick(1000, { loss: 1.5 }); // the final step always renders
  assertEquals(be.messages.length, 5);
  await p.finish();
  assertEquals(be.messages.length, 5, "final line already shown");
  assertEquals(be.flushes, 1);
  const ids = new Set(
    be.messages.map((m) => (m.content.transient as { display_id: string }).display_id),
  );
  assertEquals(ids.size, 1);
  assertEquals(be.messages[0].msgType, "display_data");
  const last = be.messages.at(-1)!.content.data as Record<string, string>;
  assertEquals(Object.keys(last), ["text/plain"]);
  assertMatch(
    last["text/plain"],
    /^step 1000\/1000 \| loss 1\.500 \| done in /,
  );
});
