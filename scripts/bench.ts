/**
 * Training benchmark: `deno task bench`.
 *
 * Trains the course's reference configuration (nanoGPT's CPU run: 4 layers, 4 heads, width 128,
 * context 64, batch 12, Moby-Dick characters) for a few steps on each available backend and
 * prints tokens/s, where a step's time goes (forward, backward, optimizer; top kernels), the
 * achieved GFLOP/s and that as a fraction of the machine's fp32 peak.
 *
 * Options: --steps N (default 20), --backends wasm,cpu (default: all usable), --json PATH.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../lib/backend.ts";
import { coursePreset, type GPTConfig } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { AdamW } from "../lib/train/adamw.ts";
import { BatchSampler, splitTokens } from "../lib/data.ts";
import { toTensors } from "../lib/train/trainer.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { loadMobyDick } from "../datasets/moby_dick.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1] : fallback;
}

/** Matmul FLOPs of one training step (forward ×3 for forward + backward), dense attention counted in full. */
export function trainingFlopsPerStep(c: GPTConfig, batch: number): number {
  const tokens = batch * c.contextLength, d = c.nEmbd;
  const perTokenForward = c.nLayer * (2 * d * 3 * d + 2 * d * d + 2 * d * 4 * d * 2) +
    2 * d * c.vocabSize;
  const attentionForward = c.nLayer * batch * 2 *
    (2 * c.contextLength * c.contextLength * d);
  return 3 * (tokens * perTokenForward + attentionForward);
}

/** fp32 peak: cores × clock × 32 FLOP/cycle (two 8-wide AVX2 FMA units; 16 for wasm's 4-wide SIMD without FMA). */
function cpuPeak(): {
  cores: number;
  ghz: number;
  avx2Peak: number;
  wasmSimdPeakPerCore: number;
} {
  const cores = navigator.hardwareConcurrency;
  let ghz = 2.0;
  try {
    const mhz = Deno.readTextFileSync("/proc/cpuinfo").match(
      /cpu MHz\s*:\s*([\d.]+)/,
    );
    if (mhz) ghz = Number(mhz[1]) / 1000;
  } catch { /* not Linux: keep the guess */ }
  return {
    cores,
    ghz,
    avx2Peak: cores * ghz * 32,
    wasmSimdPeakPerCore: ghz * 16,
  };
}

const steps = Number(arg("steps", "20"));
const wanted = arg("backends", "webgpu,wasm,cpu").split(",") as BackendName[];
const text = loadMobyDick();
const tokenizer = CharTokenizer.fromText(text);
const split = splitTokens(tokenizer.encode(text));
const config = coursePreset("tiny", {
  vocabSize: tokenizer.vocabSize,
  contextLength: 64,
});
const batch = 12;
const flops = trainingFlopsPerStep(config, batch);
const peak = cpuPeak();
const results: Record<string, unknown>[] = [];

console.log(
  `reference config: ${config.nLayer} layers, ${config.nHead} heads, width ${config.nEmbd}, context ${config.contextLength}, batch ${batch}, vocab ${config.vocabSize}`,
);
console.log(
  `${(flops / 1e9).toFixed(2)} GFLOP per training step (matmuls, dense attention counted in full)`,
);
console.log(
  `CPU: ${peak.cores} cores at ${peak.ghz.toFixed(2)} GHz → fp32 peak ≈ ${
    peak.avx2Peak.toFixed(0)
  } GFLOP/s with AVX2+FMA; wasm SIMD (4-wide, no FMA) ≤ ${
    peak.wasmSimdPeakPerCore.toFixed(0)
  } GFLOP/s per core\n`,
);

for (const name of wanted) {
  try {
    await initBackend({ backend: name, allowFallbackAdapter: false });
  } catch (err) {
    console.log(`${name}: skipped (${(err as Error).message})\n`);
    continue;
  }
  const n = name === "cpu" ? Math.min(steps, 3) : steps;
  const model = GPT.create(config, 0);
  const optimizer = new AdamW(model.params);
  const sampler = new BatchSampler(split.train, batch, config.contextLength, 0);
  const step = (timing?: { fwd: number; bwd: number; opt: number }) => {
    const { x, y } = toTensors(sampler.next());
    const t0 = performance.now();
    if (timing) tf.tidy(() => void model.loss(x, y).dataSync());
    const t1 = performance.now();
    const { value, grads } = model.valueAndGrads(() => model.loss(x, y));
    value.dataSync();
    const t2 = performance.now();
    optimizer.step(grads, 1e-3);
    const t3 = performance.now();
    tf.dispose([x, y, value, ...grads.values()]);
    if (timing) {
      timing.fwd += t1 - t0;
      timing.bwd += (t2 - t1) - (t1 - t0);
      timing.opt += t3 - t2;
    }
  };
  for (let i = 0; i < 2; i++) step();
  const start = performance.now();
  for (let i = 0; i < n; i++) step();
  const msPerStep = (performance.now() - start) / n;
  const timing = { fwd: 0, bwd: 0, opt: 0 };
  for (let i = 0; i < Math.max(1, Math.floor(n / 4)); i++) step(timing);
  const k = Math.max(1, Math.floor(n / 4));
  const profile = await tf.profile(() => {
    const { x, y } = toTensors(sampler.next());
    const { value, grads } = model.valueAndGrads(() => model.loss(x, y));
    value.dataSync();
    tf.dispose([x, y, value, ...grads.values()]);
  });
  const byKernel = new Map<string, number>();
  for (const kern of profile.kernels) {
    byKernel.set(
      kern.name,
      (byKernel.get(kern.name) ?? 0) + Number(kern.kernelTimeMs),
    );
  }
  const top = [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 6);
  const tokPerSec = (batch * config.contextLength * 1000) / msPerStep;
  const gflops = flops / msPerStep / 1e6;
  console.log(`== ${name} ==`);
  console.log(
    `  ${tokPerSec.toFixed(0)} tokens/s, ${msPerStep.toFixed(1)} ms/step over ${n} steps`,
  );
  console.log(
    `  forward ${(timing.fwd / k).toFixed(1)} ms | backward ${
      (timing.bwd / k).toFixed(1)
    } ms | optimizer ${(timing.opt / k).toFixed(1)} ms`,
  );
  console.log(
    `  ${gflops.toFixed(2)} GFLOP/s = ${
      (100 * gflops / peak.avx2Peak).toFixed(1)
    }% of the machine's AVX2 peak`,
  );
  console.log(
    `  top kernels (one profiled step, ms): ${
      top.map(([kn, ms]) => `${kn} ${ms.toFixed(1)}`).join(", ")
    }\n`,
  );
  results.push({
    backend: name,
    tokensPerSec: tokPerSec,
    msPerStep,
    forwardMs: timing.fwd / k,
    backwardMs: timing.bwd / k,
    optimizerMs: timing.opt / k,
    gflops,
    peakFraction: gflops / peak.avx2Peak,
  });
  model.dispose();
}

const jsonPath = arg("json", "");
if (jsonPath) {
  await Deno.writeTextFile(
    jsonPath,
    JSON.stringify(
      { config, batch, flopsPerStep: flops, peak, results },
      null,
      2,
    ),
  );
}
