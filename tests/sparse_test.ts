/**
 * Sparse attention: the patterns of lib/attention/patterns.ts against hand-written masks and their
 * definitions, and the block-sparse kernel of lib/attention/cpu_block_sparse.ts against masked dense
 * attention in plain tfjs ops and against the fused dense kernel.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { fusedCausalSelfAttention } from "../lib/attention/cpu_dense.ts";
import { Rng } from "../lib/random.ts";
import {
  allowed,
  attendedPairs,
  blockLayout,
  blockMask,
  blockSparseCausalSelfAttention,
  blockSparsePlan,
  keyRuns,
  layerPatterns,
  maskMatrix,
  PATTERN_KINDS,
  patternName,
  reachability,
  type SparsePattern,
  validatePattern,
} from "../lib/attention/mod.ts";

await initBackend();

/** Rows of "1"/"0" (or ".") → a 0/1 matrix. */
function parse(rows: string[]): number[][] {
  return rows.map((r) => [...r].map((ch) => (ch === "1" ? 1 : 0)));
}

/** A few parameterisations of every kind. */
const SOME_PATTERNS: SparsePattern[] = [
  { kind: "dense" },
  { kind: "band", window: 1 },
  { kind: "band", window: 5 },
  { kind: "strided", stride: 1 },
  { kind: "strided", stride: 3 },
  { kind: "strided", stride: 8 },
  { kind: "fixed", block: 1, summary: 1 },
  { kind: "fixed", block: 4, summary: 1 },
  { kind: "fixed", block: 6, summary: 6 },
  { kind: "fixed", block: 7, summary: 3 },
  { kind: "logsparse" },
];

Deno.test("pattern masks match hand-written matrices from the definitions", () => {
  const cases: [SparsePattern, string[]][] = [
    [{ kind: "dense" }, ["1....", "11...", "111..", "1111.", "11111"]],
    [{ kind: "band", window: 3 }, [
      "1.....",
      "11....",
      "111...",
      ".111..",
      "..111.",
      "...111",
    ]],
    // Previous 3 positions, plus every position 3, 6, … back.
    [{ kind: "strided", stride: 3 }, [
      "1.......",
      "11......",
      "111.....",
      "1111....",
      ".1111...",
      "..1111..",
      "1..1111.",
      ".1..1111",
    ]],
    // Blocks {0,1,2} {3,4,5} {6}; summary positions 2 and 5.
    [{ kind: "fixed", block: 3, summary: 1 }, [
      "1......",
      "11.....",
      "111....",
      "..11...",
      "..111..",
      "..1111.",
      "..1..11",
    ]],
    // Blocks {0..3} {4..7} {8}; summary positions 2, 3, 6, 7.
    [{ kind: "fixed", block: 4, summary: 2 }, [
      "1........",
      "11.......",
      "111......",
      "1111.....",
      "..111....",
      "..1111...",
      "..11111..",
      "..111111.",
      "..11..111",
    ]],
    // Keys 0, 1, 2, 4, 8 positions back.
    [{ kind: "logsparse" }, [
      "1........",
      "11.......",
      "111......",
      ".111.....",
      "1.111....",
      ".1.111...",
      "..1.111..",
      "...1.111.",
      "1...1.111",
    ]],
  ];
  for (const [p, rows] of cases) {
    assert.deepEqual(maskMatrix(p, rows.length), parse(rows), patternName(p));
  }
});

Deno.test("every pattern is causal and sees itself; keyRuns is exactly the allowed set", () => {
  const n = 70;
  for (const p of SOME_PATTERNS) {
    const mask = maskMatrix(p, n);
    for (let i = 0; i < n; i++) {
      assert.equal(mask[i][i], 1, `${patternName(p)}: ${i} must see itself`);
      for (let j = i + 1; j < n; j++) assert.equal(mask[i][j], 0, `${patternName(p)} (${i},${j})`);
      // The runs: sorted, disjoint, not touching, and the same set as the predicate.
      const runs = keyRuns(p, i), fromRuns = new Array(n).fill(0);
      for (let r = 0; r < runs.length; r += 2) {
        assert.ok(runs[r] < runs[r + 1], `${patternName(p)} row ${i}: empty run`);
        if (r > 0) assert.ok(runs[r] > runs[r - 1], `${patternName(p)} row ${i}: runs touch`);
        for (let j = runs[r]; j < runs[r + 1]; j++) fromRuns[j] = 1;
      }
      assert.deepEqual(fromRuns, mask[i], `${patternName(p)} row ${i}`);
    }
    assert.equal(allowed(p, 3, -1), false);
  }
});

Deno.test("attended pairs: dense n(n+1)/2, band ~n·w, strided ~n·2√n, logsparse ~n·log2 n", () => {
  for (const n of [1, 17, 100]) {
    for (const p of SOME_PATTERNS) {
      const count = maskMatrix(p, n).flat().reduce((a, b) => a + b, 0);
      assert.equal(attendedPairs(p, n), count, `${patternName(p)} n=${n}`);
    }
  }
  const n = 1024, root = 32;
  assert.equal(attendedPairs({ kind: "dense" }, n), (n * (n + 1)) / 2);
  assert.equal(attendedPairs({ kind: "band", window: 16 }, n), n * 16 - (16 * 15) / 2);
  // Strided: min(i + 1, l) local keys plus ⌊i/l⌋ stride keys: between n√n and 2n√n.
  const strided = attendedPairs({ kind: "strided", stride: root }, n);
  let exact = 0;
  for (let i = 0; i < n; i++) exact += Math.min(i + 1, root) + Math.floor(i / root);
  assert.equal(strided, exact);
  assert.ok(strided > n * root && strided <= 2 * n * root, `strided ${strided}`);
  // Fixed: about half a block of own keys plus c per earlier block.
  const fixed = attendedPairs({ kind: "fixed", block: root, summary: 1 }, n);
  assert.ok(fixed < 2 * n * root, `fixed ${fixed}`);
  // LogSparse: query i ≥ 1 sees itself and ⌊log2 i⌋ + 1 keys back.
  let log = 1;
  for (let i = 1; i < n; i++) log += Math.floor(Math.log2(i)) + 2;
  assert.equal(attendedPairs({ kind: "logsparse" }, n), log);
  assert.ok(log <= n * (Math.log2(n) + 1));
});

/** The same quantity as reachability(), by the plainest dynamic programme over paths. */
function reachabilityByHand(layers: SparsePattern[], n: number, maxLayers: number): number {
  let worst = 0;
  for (let j = 0; j < n; j++) {
    // has[i]: does i carry j's information after `layer` layers?
    let has = Array.from({ length: n }, (_, i) => i === j);
    const first = new Array(n).fill(Infinity);
    first[j] = 0;
    for (let layer = 1; layer <= maxLayers; layer++) {
      const p = layers[(layer - 1) % layers.length];
      has = has.map((_, i) => has.some((h, k) => h && allowed(p, i, k)));
      has.forEach((h, i) => {
        if (h && first[i] === Infinity) first[i] = layer;
      });
    }
    for (let i = j; i < n; i++) worst = Math.max(worst, first[i]);
  }
  return worst;
}

Deno.test("reachability: 2 layers for strided and fixed with l ≈ √n, ≤ log2 n + 1 for logsparse", () => {
  for (const n of [64, 100, 256]) {
    const l = Math.round(Math.sqrt(n));
    assert.equal(reachability({ kind: "strided", stride: l }, n), 2, `strided n=${n}`);
    assert.equal(reachability({ kind: "fixed", block: l, summary: 1 }, n), 2, `fixed n=${n}`);
    const log = reachability({ kind: "logsparse" }, n);
    assert.ok(log <= Math.log2(n) + 1, `logsparse n=${n}: ${log}`);
    // Steps of 1, 2, 4, … back: a distance needs as many layers as it has one-bits.
    const popcount = (x: number) => x.toString(2).split("").filter((b) => b === "1").length;
    const worst = Math.max(...Array.from({ length: n }, (_, dist) => popcount(dist)));
    assert.equal(log, worst, `logsparse n=${n}`);
  }
  assert.equal(reachability({ kind: "dense" }, 512), 1);
  assert.equal(reachability({ kind: "band", window: 4 }, 20), Math.ceil(19 / 3));
  assert.equal(reachability({ kind: "band", window: 1 }, 5), Infinity);
  assert.equal(reachability({ kind: "band", window: 1 }, 1), 0);
  assert.equal(reachability(layerPatterns("alternating", 4, { kind: "band", window: 2 }), 30), 1);
  const bandThenDense: SparsePattern[] = [{ kind: "band", window: 2 }, { kind: "dense" }];
  assert.equal(reachability(bandThenDense, 30), 2);
  // Against the brute force on small n, single patterns and a layer list.
  for (const p of SOME_PATTERNS) {
    const n = 23;
    const want = reachabilityByHand([p], n, n + 1);
    const got = reachability(p, n);
    assert.equal(got, want, patternName(p));
  }
  const mixed: SparsePattern[] = [{ kind: "logsparse" }, { kind: "band", window: 3 }];
  assert.equal(reachability(mixed, 40), reachabilityByHand(mixed, 40, 41));
});

Deno.test("blockLayout lists exactly the tiles that hold an allowed pair", () => {
  for (const [n, bs] of [[37, 8], [64, 16], [5, 7], [0, 4]]) {
    for (const p of SOME_PATTERNS) {
      const layout = blockLayout(p, n, bs), mask = maskMatrix(p, n);
      const want = Array.from(
        { length: layout.nBlocks },
        (_, qb) =>
          Array.from({ length: layout.nBlocks }, (_, kb): number => {
            for (let i = qb * bs; i < Math.min(n, qb * bs + bs); i++) {
              for (let j = kb * bs; j < Math.min(n, kb * bs + bs); j++) if (mask[i][j]) return 1;
            }
            return 0;
          }),
      );
      assert.deepEqual(blockMask(layout), want, `${patternName(p)} n=${n} bs=${bs}`);
      assert.equal(layout.tiles, want.flat().reduce((a, b) => a + b, 0));
    }
  }
  const dense = blockLayout({ kind: "dense" }, 128, 16);
  assert.equal(dense.tiles, (8 * 9) / 2);
});

Deno.test("validatePattern names the bad parameter", () => {
  const bad: [unknown, RegExp][] = [
    [{ kind: "band", window: 0 }, /band pattern: window must be an integer ≥ 1, got 0/],
    [{ kind: "band" }, /window/],
    [{ kind: "strided", stride: 0 }, /strided pattern: stride must be an integer ≥ 1/],
    [{ kind: "strided", stride: 2.5 }, /stride/],
    [{ kind: "fixed", block: 4, summary: 5 }, /summary \(c = 5\) must not exceed block \(l = 4\)/],
    [{ kind: "fixed", block: 0, summary: 1 }, /fixed pattern: block must be/],
    [{ kind: "fixed", block: 4, summary: 0 }, /summary must be/],
    [{ kind: "diagonal" }, /unknown kind "diagonal"/],
  ];
  for (const [p, message] of bad) {
    assert.throws(() => validatePattern(p as SparsePattern, 16), message);
  }
  assert.throws(() => validatePattern({ kind: "dense" }, -1), /sequence length n/);
  assert.throws(() => blockLayout({ kind: "dense" }, 8, 0), /blockSize must be an integer ≥ 1/);
  for (const kind of PATTERN_KINDS) assert.ok(SOME_PATTERNS.some((p) => p.kind === kind));
});

Deno.test("layerPatterns: GPT-3's alternation of dense and banded layers", () => {
  const band: SparsePattern = { kind: "band", window: 8 };
  assert.deepEqual(layerPatterns("alternating", 4, band).map(patternName), [
    "dense",
    "band(w=8)",
    "dense",
    "band(w=8)",
  ]);
  assert.deepEqual(layerPatterns("dense", 2).map(patternName), ["dense", "dense"]);
  assert.deepEqual(layerPatterns("sparse", 3, band).map(patternName), Array(3).fill("band(w=8)"));
  assert.equal(layerPatterns("alternating", 2)[1].kind, "band");
  assert.throws(() => layerPatterns("alternating", 2, { kind: "band", window: 0 }), /window/);
});

// ---- the block-sparse kernel ----

function randn(shape: number[], seed: number, std = 1): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Rng(seed).normalArray(size, std), shape);
}

/** max |a − b| / max |b|: relative to the reference's scale. */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  assert.equal(x.length, y.length);
  let diff = 0, scale = 1e-12;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return diff / scale;
}

/** softmax(q·kᵀ/√D + mask)·v per head in plain tfjs ops, mask 0 where allowed, −1e9 elsewhere. */
function maskedDenseReference(
  qkv: tf.Tensor2D,
  b: number,
  t: number,
  h: number,
  p: SparsePattern,
): tf.Tensor2D {
  return tf.tidy(() => {
    const c = qkv.shape[1] / 3, d = c / h;
    const [q, k, v] = tf.split(qkv, 3, 1).map((m) =>
      tf.transpose(tf.reshape(m, [b, t, h, d]), [0, 2, 1, 3])
    );
    const bias = tf.tensor2d(maskMatrix(p, t).flat().map((a) => (a ? 0 : -1e9)), [t, t]);
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)), bias);
    const y = tf.matMul(tf.softmax(scores), v);
    return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b * t, c]) as tf.Tensor2D;
  });
}

const TOL = 1e-4;

Deno.test("block-sparse attention equals masked dense attention: values and dq, dk, dv", () => {
  const patterns: SparsePattern[] = [
    { kind: "dense" },
    { kind: "band", window: 5 },
    { kind: "strided", stride: 6 },
    { kind: "fixed", block: 8, summary: 2 },
    { kind: "logsparse" },
  ];
  // [B, T, H, D, block]: one token; T not a multiple of the block and D = 5; a block that does
  // not divide the strides; several whole blocks.
  const shapes = [[1, 1, 1, 4, 16], [2, 37, 3, 5, 16], [1, 50, 2, 8, 7], [2, 64, 2, 16, 32]];
  const before = tf.memory().numTensors;
  for (const [b, t, h, d, blockSize] of shapes) {
    for (const p of patterns) {
      const c = h * d, seed = b * 1000 + t * 10 + d;
      const qkv = randn([b * t, 3 * c], seed, 2) as tf.Tensor2D;
      const up = randn([b * t, c], seed + 1); // upstream gradient, via Σ y·up
      const sparse = (x: tf.Tensor) =>
        blockSparseCausalSelfAttention(x as tf.Tensor2D, b, t, h, p, { blockSize });
      const dense = (x: tf.Tensor) => maskedDenseReference(x as tf.Tensor2D, b, t, h, p);
      const what = `${patternName(p)} B=${b} T=${t} H=${h} D=${d} block=${blockSize}`;
      const ys = sparse(qkv), yd = dense(qkv);
      assert.ok(relErr(ys, yd) < TOL, `y ${what}: ${relErr(ys, yd)}`);
      const gs = tf.grad((x) => tf.sum(tf.mul(sparse(x), up)))(qkv);
      const gd = tf.grad((x) => tf.sum(tf.mul(dense(x), up)))(qkv);
      // dq, dk, dv are the three column groups of dqkv; check each on its own scale.
      ["dq", "dk", "dv"].forEach((name, part) => {
        const [a, r] = [gs, gd].map((g) => tf.slice(g, [0, part * c], [b * t, c]));
        assert.ok(relErr(a, r) < TOL, `${name} ${what}: ${relErr(a, r)}`);
        tf.dispose([a, r]);
      });
      tf.dispose([qkv, up, ys, yd, gs, gd]);
    }
  }
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

Deno.test("the dense pattern through the block-sparse code equals the fused dense kernel", () => {
  for (const [b, t, h, d, blockSize] of [[2, 7, 3, 5, 4], [1, 130, 2, 16, 64], [3, 33, 4, 8, 32]]) {
    const qkv = randn([b * t, 3 * h * d], t + d, 2) as tf.Tensor2D;
    const up = randn([b * t, h * d], t + d + 1);
    const dense = { kind: "dense" } as const;
    const ys = blockSparseCausalSelfAttention(qkv, b, t, h, dense, { blockSize });
    const yf = fusedCausalSelfAttention(qkv, b, t, h);
    assert.ok(relErr(ys, yf) < 1e-5, `y T=${t}: ${relErr(ys, yf)}`);
    const gs = tf.grad((x) =>
      tf.sum(tf.mul(blockSparseCausalSelfAttention(x as tf.Tensor2D, b, t, h, dense), up))
    )(qkv);
    const gf = tf.grad((x) =>
      tf.sum(tf.mul(fusedCausalSelfAttention(x as tf.Tensor2D, b, t, h), up))
    )(qkv);
    assert.ok(relErr(gs, gf) < TOL, `dqkv T=${t}: ${relErr(gs, gf)}`);
    tf.dispose([qkv, up, ys, yf, gs, gf]);
  }
});

Deno.test("the block size changes the schedule, not the numbers; plans count the pattern's pairs", () => {
  const [b, t, h, d] = [1, 45, 2, 6];
  const p: SparsePattern = { kind: "strided", stride: 7 };
  const qkv = randn([b * t, 3 * h * d], 9) as tf.Tensor2D;
  const outs = [1, 5, 16, 64].map((blockSize) =>
    blockSparseCausalSelfAttention(qkv, b, t, h, p, { blockSize })
  );
  for (const y of outs.slice(1)) assert.ok(relErr(y, outs[0]) < 1e-6);
  for (const blockSize of [1, 5, 16, 64]) {
    const plan = blockSparsePlan(p, t, blockSize);
    assert.equal(plan.pairs, attendedPairs(p, t));
    assert.equal(plan.layout.tiles, blockLayout(p, t, blockSize).tiles);
    assert.ok(plan.bytes > 0);
  }
  assert.throws(
    () => blockSparseCausalSelfAttention(qkv, b, t + 1, h, p),
    /qkv \[45,36\] does not fit B=1 T=46 H=2/,
  );
  assert.throws(
    () => blockSparseCausalSelfAttention(qkv, b, t, h, p, { blockSize: 0 }),
    /blockSize must be an integer ≥ 1/,
  );
  tf.dispose([qkv, ...outs]);
});
