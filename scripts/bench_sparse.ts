/**
 * Sparse attention benchmark: `deno task bench:sparse`.
 *
 * Times one attention forward + backward at sequence lengths n = 1,024, 4,096 and 8,192 (B = 1,
 * H = 4 heads of D = 32, the course's width C = 128) for
 *
 * - dense: the fused WebAssembly SIMD kernel of lib/attention/cpu_dense.ts, which visits every
 *   causal pair, n(n+1)/2 per head, in O(n) memory;
 * - block-sparse (lib/attention/cpu_block_sparse.ts, plain TypeScript) under the strided pattern with
 *   l = round(√n), a local band of w = 2l (the same key budget), and the fixed pattern with
 *   l = round(√n), c = 8.
 *
 * Both sides run on raw Float32Arrays (no tfjs op around them), so only the kernels are timed.
 * The block-sparse plan (tiles and runs) is built once per shape and cached by the op; its build
 * time is printed separately. Memory is computed, not sampled: the bytes of every buffer the
 * implementation allocates for one forward + backward (outputs, scratch, plan, and for dense the
 * WebAssembly scratch area); the inputs qkv and dy belong to the caller and are not counted. For
 * scale, the last column is what one [B, H, n, n] float32 score tensor of the plain tfjs
 * composition would take (computed, not run).
 *
 * Options: --sizes 1024,4096,8192, --block 64, --reps N (default: best of 3 below n = 4,096, one
 * run above), --json PATH (also write the results there; a bare --json prints them).
 */
import { attentionBackward, attentionForward } from "../lib/kernels/wasm/mod.ts";
import {
  blockSparseBackward,
  blockSparseForward,
  blockSparseKernelBytes,
  blockSparsePlan,
  DEFAULT_BLOCK_SIZE,
  denseKernelBytes,
  patternName,
  scoreTensorBytes,
  type SparsePattern,
} from "../lib/attention/mod.ts";
import { Rng } from "../lib/random.ts";

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1] : fallback;
}

const sizes = arg("sizes", "1024,4096,8192").split(",").map(Number);
const blockSize = Number(arg("block", String(DEFAULT_BLOCK_SIZE)));
const repsArg = Deno.args.includes("--reps") ? Number(arg("reps", "1")) : undefined;
// --json PATH writes the results there; a bare --json prints them to stdout instead.
const jsonAt = Deno.args.indexOf("--json");
const jsonPath = jsonAt < 0
  ? undefined
  : arg("json", "-").startsWith("--")
  ? "-"
  : arg("json", "-");
const [B, H, D] = [1, 4, 32];
const C = H * D;

/** The patterns compared at length n. */
function patternsFor(n: number): SparsePattern[] {
  const l = Math.round(Math.sqrt(n));
  return [
    { kind: "strided", stride: l },
    { kind: "band", window: 2 * l },
    { kind: "fixed", block: l, summary: Math.min(8, l) },
  ];
}

/** Best wall time in ms of `reps` runs of fn, and fn's last result. */
function best<T>(reps: number, fn: () => T): { ms: number; result: T } {
  let ms = Infinity, result!: T;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    result = fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return { ms, result };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1).padStart(8);

interface Row {
  n: number;
  impl: string;
  pattern: string;
  pairsPerHead: number;
  tiles?: number;
  tilesDense?: number;
  planMs?: number;
  forwardMs: number;
  backwardMs: number;
  totalMs: number;
  speedupVsDense?: number;
  bytes: number;
  denseScoreBytes: number;
}

const rows: Row[] = [];
console.log(
  `attention forward + backward, B=${B} H=${H} D=${D} (C=${C}), block ${blockSize}, ` +
    `${navigator.hardwareConcurrency} CPU threads visible (kernels are single-threaded)\n`,
);
console.log(
  "     n  implementation                   pairs/head   tiles     fwd ms    bwd ms  total ms" +
    "  speedup  alloc MiB  n² scores MiB",
);
for (const n of sizes) {
  const reps = repsArg ?? (n < 4096 ? 3 : 1);
  const rng = new Rng(n);
  const qkv = rng.normalArray(B * n * 3 * C, 1), dy = rng.normalArray(B * n * C, 1);
  const denseScoreBytes = scoreTensorBytes(B, n, H);
  const nb = Math.ceil(n / blockSize), tilesDense = (nb * (nb + 1)) / 2;

  const fwd = best(reps, () => attentionForward(qkv, B, n, H, D));
  const { y, lse } = fwd.result;
  const bwd = best(reps, () => attentionBackward(qkv, y, dy, lse, B, n, H, D));
  const dense: Row = {
    n,
    impl: "dense fused wasm kernel",
    pattern: "dense",
    pairsPerHead: (n * (n + 1)) / 2,
    tilesDense,
    forwardMs: fwd.ms,
    backwardMs: bwd.ms,
    totalMs: fwd.ms + bwd.ms,
    bytes: denseKernelBytes(B, n, H, D), // lib/attention/memory.ts
    denseScoreBytes,
  };
  rows.push(dense);
  const print = (r: Row) =>
    console.log(
      `${String(n).padStart(6)}  ${
        `${r.impl}${r.impl.startsWith("dense") ? "" : " " + r.pattern}`
          .padEnd(31)
      }  ${String(r.pairsPerHead).padStart(10)}  ${String(r.tiles ?? tilesDense).padStart(6)}  ${
        r.forwardMs.toFixed(0).padStart(9)
      } ${r.backwardMs.toFixed(0).padStart(9)} ${r.totalMs.toFixed(0).padStart(9)}  ${
        r.speedupVsDense ? `${r.speedupVsDense.toFixed(1)}×`.padStart(7) : "       "
      }  ${mib(r.bytes)}  ${mib(r.denseScoreBytes)}`,
    );
  print(dense);

  for (const pattern of patternsFor(n)) {
    const t0 = performance.now();
    const plan = blockSparsePlan(pattern, n, blockSize);
    const planMs = performance.now() - t0;
    const sf = best(reps, () => blockSparseForward(qkv, plan, B, H, D));
    const sb = best(
      reps,
      () => blockSparseBackward(qkv, sf.result.y, dy, sf.result.lse, plan, B, H, D),
    );
    const total = sf.ms + sb.ms;
    const row: Row = {
      n,
      impl: "block-sparse",
      pattern: patternName(pattern),
      pairsPerHead: plan.pairs,
      tiles: plan.layout.tiles,
      tilesDense,
      planMs,
      forwardMs: sf.ms,
      backwardMs: sb.ms,
      totalMs: total,
      speedupVsDense: dense.totalMs / total,
      bytes: blockSparseKernelBytes(plan, B, H, D),
      denseScoreBytes,
    };
    rows.push(row);
    print(row);
  }
  console.log(
    `        (block-sparse plans built in ${
      rows.filter((r) => r.n === n && r.planMs !== undefined).map((r) => r.planMs!.toFixed(0))
        .join(", ")
    } ms; cached by the op)`,
  );
}

const strided = rows.filter((r) => r.pattern.startsWith("strided"));
const largest = strided.at(-1);
if (largest) {
  const denseRow = rows.find((r) => r.n === largest.n && r.pattern === "dense")!;
  console.log(
    `\nat n = ${largest.n}: block-sparse ${largest.pattern} is ` +
      `${largest.speedupVsDense!.toFixed(1)}× faster than dense ` +
      `(${largest.totalMs.toFixed(0)} vs ${denseRow.totalMs.toFixed(0)} ms; ` +
      `${((100 * largest.pairsPerHead) / denseRow.pairsPerHead).toFixed(1)}% of the pairs)`,
  );
  if (strided.length > 1) {
    const first = strided[0];
    const growth = Math.log(largest.bytes / first.bytes) / Math.log(largest.n / first.n);
    console.log(
      `memory of block-sparse strided grows as n^${growth.toFixed(2)} from n = ${first.n} ` +
        `to ${largest.n} (sub-quadratic: < 2); a dense score tensor grows as n^2`,
    );
  }
}
if (jsonPath) {
  const json = JSON.stringify({ batch: B, heads: H, headSize: D, blockSize, rows }, null, 2);
  if (jsonPath === "-") {
    console.log(json);
  } else {
    await Deno.writeTextFile(jsonPath, json + "\n");
    console.log(`wrote ${jsonPath}`);
  }
}
