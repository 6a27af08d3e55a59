/**
 * The course's run-mode helpers (`lib/course.ts`) and the training watcher's
 * plot and progress line (`lib/train/watch.ts`).
 */
import nodeAssert from "node:assert/strict";
import { checkpointPath, isQuickMode, loadCourseCheckpoint, QUICK_ENV } from "../lib/course.ts";
import { GPT } from "../lib/model/gpt.ts";
import { makeConfig } from "../lib/model/config.ts";
import { saveCheckpoint } from "../lib/train/checkpoint.ts";
import { watchTraining } from "../lib/train/watch.ts";
import { PLOTLY_MIME, type PlotlyFigure, RecordingBackend } from "../lib/display/mod.ts";
import { initBackend } from "../lib/backend.ts";
import { parseLabArgs } from "../scripts/lab.ts";

const assert: (cond: unknown, msg?: string) => asserts cond = nodeAssert.ok;
const assertEquals = <T>(actual: T, expected: T, msg?: string): void =>
  nodeAssert.deepStrictEqual(actual, expected, msg);

await initBackend({ backend: "cpu" });

/** Runs `fn` with GPT_COURSE_QUICK set to `value` (or unset), restoring it afterwards. */
async function withQuick<T>(value: string | undefined, fn: () => Promise<T> | T): Promise<T> {
  const saved = Deno.env.get(QUICK_ENV);
  if (value === undefined) Deno.env.delete(QUICK_ENV);
  else Deno.env.set(QUICK_ENV, value);
  try {
    return await fn();
  } finally {
    if (saved === undefined) Deno.env.delete(QUICK_ENV);
    else Deno.env.set(QUICK_ENV, saved);
  }
}

Deno.test("checkpointPath keeps quick-mode models apart from full-mode ones", async () => {
  assertEquals(checkpointPath("m.safetensors", false), "../checkpoints/m.safetensors");
  assertEquals(checkpointPath("m.safetensors", true), "../checkpoints/quick/m.safetensors");
  await withQuick("1", () => {
    assert(isQuickMode());
    assertEquals(checkpointPath("m.safetensors"), "../checkpoints/quick/m.safetensors");
  });
  await withQuick(undefined, () => {
    assert(!isQuickMode());
    assertEquals(checkpointPath("m.safetensors"), "../checkpoints/m.safetensors");
  });
  await withQuick("0", () => assert(!isQuickMode()));
  for (const bad of ["", "../x", "a/b", ".hidden"]) {
    nodeAssert.throws(() => checkpointPath(bad), RangeError, bad);
  }
});

Deno.test("loadCourseCheckpoint: full mode never uses the quick model and says what to run", async () => {
  const root = await Deno.makeTempDir();
  const cwd = Deno.cwd();
  await Deno.mkdir(`${root}/notebooks`);
  await Deno.mkdir(`${root}/checkpoints/quick`, { recursive: true });
  const model = GPT.create(
    makeConfig({ vocabSize: 5, contextLength: 4, nLayer: 1, nHead: 1, nEmbd: 4 }),
    1,
  );
  try {
    Deno.chdir(`${root}/notebooks`);
    await saveCheckpoint(checkpointPath("m.safetensors", true), model, {
      extra: { mode: "quick" },
    });
    const quick = await withQuick("1", () => loadCourseCheckpoint("m.safetensors", "01_x"));
    assertEquals(quick.extra, { mode: "quick" });
    quick.model.dispose();
    await withQuick(undefined, async () => {
      const err = await loadCourseCheckpoint("m.safetensors", "01_x").then(
        () => undefined,
        (e: Error) => e,
      );
      assert(err, "full mode loaded the quick-mode checkpoint");
      nodeAssert.match(err.message, /\.\.\/checkpoints\/m\.safetensors is missing/);
      nodeAssert.match(err.message, /deno task course --only 01_x/);
      nodeAssert.match(err.message, /only the quick-mode model .* exists/);
    });
    await Deno.remove(`${root}/checkpoints/quick/m.safetensors`);
    await withQuick("1", async () => {
      const err = await loadCourseCheckpoint("m.safetensors", "01_x").catch((e: Error) => e);
      assert(err instanceof Error);
      nodeAssert.match(err.message, /deno task course --quick --only 01_x/);
      assert(!/only the quick-mode/.test(err.message));
    });
  } finally {
    Deno.chdir(cwd);
    model.dispose();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("watchTraining: no val figure before the first evaluation, train (eval) drawn on top", async () => {
  const step = (s: number) => ({
    step: s,
    totalSteps: 4,
    loss: 3 - s / 4,
    lr: 1e-3,
    gradNorm: 1,
    tokensPerSec: 100,
    elapsedSec: s,
    tokens: 100 * s,
    trainSeconds: s / 2,
  });
  const live = new RecordingBackend(true);
  const w = watchTraining({ title: "t", totalSteps: 4, backend: live });
  w.onStep!(step(1));
  w.onEval!({ step: 1, trainLoss: 2.75, valLoss: 2.8, elapsedSec: 1 });
  for (const s of [2, 3, 4]) w.onStep!(step(s));
  // The trainer evaluates after the last step's callback: the final line must still show it.
  w.onEval!({ step: 4, trainLoss: 2.45, valLoss: 2.5, elapsedSec: 4 });
  await w.finish();
  const data = live.messages.map((m) => m.content.data as Record<string, unknown>);
  const progressLines = data.filter((d) => d[PLOTLY_MIME] === undefined)
    .map((d) => d["text/plain"] as string);
  assert(progressLines.length >= 2, progressLines.join("\n"));
  assert(!/val/.test(progressLines[0]), `before any evaluation: ${progressLines[0]}`);
  assert(!progressLines.some((l) => /NaN/.test(l)), progressLines.join("\n"));
  // The final line: the last evaluation, and the run's throughput (tokens / training seconds).
  assert(/val 2\.5/.test(progressLines.at(-1)!), progressLines.at(-1));
  assert(/200 tok\/s/.test(progressLines.at(-1)!), progressLines.at(-1));
  const figures = data.map((d) => d[PLOTLY_MIME]).filter((f) => f !== undefined) as PlotlyFigure[];
  const traces = figures.at(-1)!.data;
  // Later traces are drawn over earlier ones: the dashed train (eval) line over the val line.
  assertEquals(traces.map((t) => t.name), ["train (batch)", "val", "train (eval)"]);
  assertEquals(traces.map((t) => (t.line as { dash: string }).dash), ["solid", "solid", "dash"]);
});

Deno.test("deno task lab --quick: quick mode for the kernels, the rest for Jupyter", () => {
  assertEquals(parseLabArgs(["--quick", "--port", "8899"]), {
    quick: true,
    jupyterArgs: ["--port", "8899"],
  });
  assertEquals(parseLabArgs(["--no-browser"]), { quick: false, jupyterArgs: ["--no-browser"] });
});
