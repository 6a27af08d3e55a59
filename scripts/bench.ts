/**
 * Training benchmark: `deno task bench`.
 *
 * Trains the course's reference configuration (nanoGPT's CPU run: 4 layers, 4 heads, width 128,
 * context 64, batch 12, Moby-Dick characters) for a few steps on each available backend and
 * prints tokens/s, where a step's time goes (forward, backward, optimizer; top kernels), the
 * achieved GFLOP/s and that as a fraction of the machine's fp32 peak.
 *
 * Options: --steps N (default 20), --backends wasm,cpu (default: all usable), --json PATH,
 * --quality N: also train N steps with the plain tfjs kernels and with the fused ones (1 and 2
 * threads) from the same seed and compare validation losses: speed must not change the numbers.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../lib/backend.ts";
import { coursePreset, type GPTConfig } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { AdamW } from "../lib/train/adamw.ts";
import { setReferenceKernels } from "../lib/kernels/dispatch.ts";
import { BatchSampler, splitTokens } from "../lib/data.ts";
import { defaultTrainConfig, toTensors, Trainer } from "../lib/train/mod.ts";
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

/** Mean ms per training step through the real Trainer (so data parallelism is included). */
async function timeTrainer(threads: number, n: number): Promise<number> {
  const model = GPT.create(config, 0);
  const trainer = new Trainer(
    model,
    split,
    defaultTrainConfig({ steps: n + 2, batchSize: batch, evalInterval: 0, threads }),
  );
  await trainer.trainStep();
  await trainer.trainStep(); // warm-up (and worker start-up)
  const start = performance.now();
  for (let i = 0; i < n; i++) await trainer.trainStep();
  const ms = (performance.now() - start) / n;
  trainer.close();
  model.dispose();
  return ms;
}

/** Forward / backward / optimizer split of one thread's step, and the top kernels. */
async function breakdown(n: number) {
  const model = GPT.create(config, 0);
  const optimizer = new AdamW(model.params);
  const sampler = new BatchSampler(split.train, batch, config.contextLength, 0);
  const t = { fwd: 0, bwd: 0, opt: 0 };
  for (let i = 0; i < n + 1; i++) {
    const { x, y } = toTensors(sampler.next());
    const t0 = performance.now();
    tf.tidy(() => void model.loss(x, y).dataSync());
    const t1 = performance.now();
    const { value, grads } = model.valueAndGrads(() => model.loss(x, y));
    value.dataSync();
    const t2 = performance.now();
    await optimizer.step(grads, 1e-3);
    const t3 = performance.now();
    tf.dispose([x, y, value, ...grads.values()]);
    if (i === 0) continue; // warm-up
    t.fwd += (t1 - t0) / n;
    t.bwd += (t2 - t1 - (t1 - t0)) / n;
    t.opt += (t3 - t2) / n;
  }
  const profile = await tf.profile(() => {
    const { x, y } = toTensors(sampler.next());
    const { value, grads } = model.valueAndGrads(() => model.loss(x, y));
    value.dataSync();
    tf.dispose([x, y, value, ...grads.values()]);
  });
  const byKernel = new Map<string, number>();
  for (const k of profile.kernels) {
    byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  }
  model.dispose();
  return { ...t, top: [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 6) };
}

for (const name of wanted) {
  try {
    await initBackend({ backend: name, allowFallbackAdapter: false });
  } catch (err) {
    console.log(`${name}: skipped (${(err as Error).message})\n`);
    continue;
  }
  const n = name === "cpu" ? Math.min(steps, 3) : steps;
  console.log(`== ${name} ==`);
  const threadCounts = name === "webgpu" ? [1] : [...new Set([1, Math.min(2, peak.cores)])];
  for (const threads of threadCounts) {
    const msPerStep = await timeTrainer(threads, n);
    const tokPerSec = (batch * config.contextLength * 1000) / msPerStep;
    const gflops = flops / msPerStep / 1e6;
    console.log(
      `  ${threads} thread${threads > 1 ? "s" : " "}: ${
        tokPerSec.toFixed(0).padStart(5)
      } tokens/s, ` +
        `${msPerStep.toFixed(1)} ms/step, ${gflops.toFixed(2)} GFLOP/s = ` +
        `${(100 * gflops / peak.avx2Peak).toFixed(1)}% of the AVX2 peak (${n} steps)`,
    );
    results.push({ backend: name, threads, tokensPerSec: tokPerSec, msPerStep, gflops });
  }
  const b = await breakdown(Math.max(2, Math.floor(n / 4)));
  console.log(
    `  one thread's step: forward ${b.fwd.toFixed(1)} ms | backward ${b.bwd.toFixed(1)} ms | ` +
      `optimizer ${b.opt.toFixed(1)} ms`,
  );
  console.log(
    `  top kernels (one profiled step, ms): ${
      b.top.map(([k, ms]) => `${k} ${ms.toFixed(1)}`).join(", ")
    }`,
  );
  console.log(
    '  ("unnamed scope" is the course\'s fused JS kernels: attention, LayerNorm, GELU)\n',
  );
}

const qualitySteps = Number(arg("quality", "0"));
if (qualitySteps > 0) {
  await initBackend({ backend: "wasm" });
  console.log(`== quality: ${qualitySteps} steps from the same seed on wasm ==`);
  for (
    const [label, reference, threads] of [["tfjs ops (reference)", true, 1], [
      "fused kernels",
      false,
      1,
    ], ["fused kernels", false, 2]] as const
  ) {
    setReferenceKernels(reference);
    const model = GPT.create(config, 0);
    const trainer = new Trainer(
      model,
      split,
      defaultTrainConfig({
        steps: qualitySteps,
        batchSize: batch,
        lr: 2e-3,
        evalInterval: 0,
        evalBatches: 16,
        threads,
      }),
    );
    const h = await trainer.run();
    const val = await trainer.evaluate("val");
    console.log(
      `  ${label}, ${threads} thread${threads > 1 ? "s" : ""}: val loss ${
        val.toFixed(4)
      }, final batch loss ${h.loss.at(-1)!.toFixed(4)}, ` +
        `${Math.round(h.tokens / h.trainSeconds)} tokens/s`,
    );
    results.push({
      quality: label,
      threads,
      valLoss: val,
      tokensPerSec: h.tokens / h.trainSeconds,
    });
    model.dispose();
  }
  setReferenceKernels(false);
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
