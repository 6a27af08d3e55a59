/**
 * Untrusted input and settings, table-driven: every case is an input a learner could hand the
 * library (a downloaded file, a pasted prompt, a typed hyper-parameter), the error class and
 * message fragment it must produce, and a time bound. Every case must also leave
 * `tf.memory().numTensors` unchanged. A mutation fuzz test of the safetensors and checkpoint
 * decoders follows: random byte and header mutations of valid files, each ending in a value or
 * a typed error, in bounded time, without a leak.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from "../lib/io/mod.ts";
import type { TensorInput } from "../lib/io/mod.ts";
import { removeStaleTemps, STALE_TEMP_MS, writeFileAtomic } from "../lib/io/atomic.ts";
import { CheckpointError, decodeCheckpoint, encodeCheckpoint } from "../lib/train/checkpoint.ts";
import { ConfigError, makeConfig } from "../lib/model/config.ts";
import { GPT } from "../lib/model/gpt.ts";
import { gpt2FromSafetensors, HfGpt2Error } from "../lib/model/hf_gpt2.ts";
import { generate } from "../lib/model/generate.ts";
import { NonFiniteError, sampleToken } from "../lib/model/sample.ts";
import { CharTokenizer } from "../lib/tokenizers/char.ts";
import { BpeTokenizer } from "../lib/tokenizers/bpe.ts";
import { GPT2_MAX_PIECE, Gpt2Tokenizer } from "../lib/tokenizers/gpt2.ts";
import {
  defaultTrainConfig,
  type TrainConfig,
  TrainConfigError,
  Trainer,
  validateTrainConfig,
} from "../lib/train/mod.ts";
import { Rng } from "../lib/random.ts";
import { BatchSampler } from "../lib/data.ts";
import { lossByPosition } from "../lib/train/position_loss.ts";
import { AdamW } from "../lib/train/adamw.ts";
import {
  defaultFineTuneConfig,
  type FineTuneConfig,
  FineTuneConfigError,
  FineTuner,
  TaskHead,
  TaskTokenizer,
  validateFineTuneConfig,
} from "../lib/finetune/mod.ts";

await initBackend({ backend: "cpu" });

// ---------------------------------------------------------------------------
// Fixtures: a tiny model, its checkpoint with and without training state, raw safetensors.

const CONFIG = makeConfig({ vocabSize: 7, contextLength: 8, nLayer: 1, nHead: 2, nEmbd: 8 });
const model = GPT.create(CONFIG, 1);
const plain = await encodeCheckpoint(model, { extra: { note: "fixture" } });
const tokens = Int32Array.from({ length: 200 }, (_, i) => (i * 3) % 7);
const trainer = new Trainer(
  GPT.create(CONFIG, 2),
  { train: tokens.subarray(0, 160), val: tokens.subarray(160) },
  defaultTrainConfig({ steps: 3, batchSize: 2, evalInterval: 0, evalBatches: 1, threads: 1 }),
);
await trainer.run({}, 1);
const withTraining = await encodeCheckpoint(trainer.model, { trainer });

/** The checkpoint re-encoded after `edit` changes its tensors or metadata. */
function rewrite(
  bytes: Uint8Array,
  edit: (t: Record<string, TensorInput>, m: Record<string, string>) => void,
): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(bytes);
  const t: Record<string, TensorInput> = { ...tensors };
  const m = { ...metadata };
  edit(t, m);
  return encodeSafetensors(t, m);
}
const editConfig = (bytes: Uint8Array, change: Record<string, unknown>) =>
  rewrite(bytes, (_, m) => (m.config = JSON.stringify({ ...JSON.parse(m.config), ...change })));
const editTraining = (change: Record<string, unknown>) =>
  rewrite(
    withTraining,
    (_, m) => (m.training = JSON.stringify({ ...JSON.parse(m.training), ...change })),
  );
const editTrainConfig = (change: Record<string, unknown>) =>
  rewrite(withTraining, (_, m) => {
    const t = JSON.parse(m.training);
    m.training = JSON.stringify({ ...t, trainConfig: { ...t.trainConfig, ...change } });
  });

/** A safetensors file from a header object and a data buffer, the header length given or true. */
function raw(header: unknown, data = new Uint8Array(0), length?: bigint): Uint8Array {
  const text = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}
const f32 = (n: number) => new Uint8Array(4 * n);

/** A tiny GPT-2 file in Hugging Face's layout (names only matter, values are zeros). */
function hf(edit: (t: Record<string, TensorInput>) => void = () => {}): Uint8Array {
  const C = 8, V = 7, T = 8;
  const t: Record<string, TensorInput> = {};
  const add = (name: string, shape: number[]) => (t[name] = {
    dtype: "F32",
    shape,
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01),
  });
  add("wte.weight", [V, C]);
  add("wpe.weight", [T, C]);
  const p = "h.0.";
  for (const n of ["ln_1", "ln_2"]) add(`${p}${n}.weight`, [C]), add(`${p}${n}.bias`, [C]);
  add(p + "attn.c_attn.weight", [C, 3 * C]), add(p + "attn.c_attn.bias", [3 * C]);
  add(p + "attn.c_proj.weight", [C, C]), add(p + "attn.c_proj.bias", [C]);
  add(p + "mlp.c_fc.weight", [C, 4 * C]), add(p + "mlp.c_fc.bias", [4 * C]);
  add(p + "mlp.c_proj.weight", [4 * C, C]), add(p + "mlp.c_proj.bias", [C]);
  add("ln_f.weight", [C]), add("ln_f.bias", [C]);
  edit(t);
  return encodeSafetensors(t, { format: "pt" });
}
const hfOptions = { nHead: 2 };

// ---------------------------------------------------------------------------
// The cases.

interface Case {
  area: string;
  name: string;
  run: () => unknown;
  error: new (...args: never[]) => Error;
  message: RegExp;
  /** Time bound in ms (default 500). */
  ms?: number;
}

const BIG = 2 ** 40;
const cases: Case[] = [];
const add = (area: string, list: Omit<Case, "area">[]) =>
  cases.push(...list.map((c) => ({ area, ...c })));

add("safetensors", [
  {
    name: "empty file",
    run: () => decodeSafetensors(new Uint8Array(0)),
    error: SafetensorsError,
    message: /truncated/,
  },
  {
    name: "7 bytes",
    run: () => decodeSafetensors(new Uint8Array(7)),
    error: SafetensorsError,
    message: /truncated/,
  },
  {
    name: "header length 0",
    run: () => decodeSafetensors(raw("", undefined, 0n)),
    error: SafetensorsError,
    message: /empty/,
  },
  {
    name: "header length past the file",
    run: () => decodeSafetensors(raw({}, undefined, 1000n)),
    error: SafetensorsError,
    message: /truncated/,
  },
  {
    name: "header length 2^63",
    run: () => decodeSafetensors(raw({}, undefined, 2n ** 63n)),
    error: SafetensorsError,
    message: /exceeds the limit/,
  },
  {
    name: "header not JSON",
    run: () => decodeSafetensors(raw("{nope")),
    error: SafetensorsError,
    message: /not valid JSON/,
  },
  {
    name: "header an array",
    run: () => decodeSafetensors(raw("[1,2]")),
    error: SafetensorsError,
    message: /must start with "\{"/,
  },
  {
    name: "header a JSON string",
    run: () => decodeSafetensors(raw('"x"')),
    error: SafetensorsError,
    message: /must start with/,
  },
  {
    name: "header not UTF-8",
    run: () =>
      decodeSafetensors(raw(new TextDecoder("latin1").decode(Uint8Array.of(0x7b, 0xff, 0x7d)))),
    error: SafetensorsError,
    message: /./,
  },
  {
    name: "duplicate tensor names",
    run: () =>
      decodeSafetensors(
        raw(
          '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
          f32(1),
        ),
      ),
    error: SafetensorsError,
    message: /duplicate key "a"/,
  },
  {
    name: "unknown dtype",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F128", shape: [1], data_offsets: [0, 4] } }, f32(1))),
    error: SafetensorsError,
    message: /dtype/,
  },
  {
    name: "negative dimension",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1))),
    error: SafetensorsError,
    message: /shape/,
  },
  {
    name: "fractional dimension",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [1.5], data_offsets: [0, 4] } }, f32(1))),
    error: SafetensorsError,
    message: /shape/,
  },
  {
    name: "shape not an array",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: 4, data_offsets: [0, 16] } }, f32(4))),
    error: SafetensorsError,
    message: /shape/,
  },
  {
    name: "shape product overflow",
    run: () =>
      decodeSafetensors(
        raw({ a: { dtype: "F32", shape: [BIG, BIG], data_offsets: [0, 4] } }, f32(1)),
      ),
    error: SafetensorsError,
    message: /./,
  },
  {
    name: "bytes do not match the shape",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, f32(1))),
    error: SafetensorsError,
    message: /./,
  },
  {
    name: "offsets past the buffer",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [1], data_offsets: [0, 400] } }, f32(1))),
    error: SafetensorsError,
    message: /./,
  },
  {
    name: "offsets reversed",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, f32(1))),
    error: SafetensorsError,
    message: /./,
  },
  {
    name: "overlapping tensors",
    run: () =>
      decodeSafetensors(
        raw({
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        }, f32(2)),
      ),
    error: SafetensorsError,
    message: /overlap/,
  },
  {
    name: "gap between tensors",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2))),
    error: SafetensorsError,
    message: /gap/,
  },
  {
    name: "trailing bytes",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(2))),
    error: SafetensorsError,
    message: /trailing|cover only/,
  },
  {
    name: "offsets missing",
    run: () => decodeSafetensors(raw({ a: { dtype: "F32", shape: [1] } }, f32(1))),
    error: SafetensorsError,
    message: /data_offsets/,
  },
  {
    name: "offsets not integers",
    run: () =>
      decodeSafetensors(raw({ a: { dtype: "F32", shape: [1], data_offsets: [0, "4"] } }, f32(1))),
    error: SafetensorsError,
    message: /data_offsets/,
  },
  {
    name: "tensor info not an object",
    run: () => decodeSafetensors(raw({ a: 5 })),
    error: SafetensorsError,
    message: /./,
  },
  {
    name: "metadata not an object",
    run: () => decodeSafetensors(raw({ __metadata__: [1] })),
    error: SafetensorsError,
    message: /metadata/,
  },
  {
    name: "metadata value not a string",
    run: () => decodeSafetensors(raw({ __metadata__: { a: 1 } })),
    error: SafetensorsError,
    message: /metadata/,
  },
  {
    name: "a million-deep nesting in the header",
    run: () => decodeSafetensors(raw("{" + '"a":['.repeat(100_000) + "]".repeat(100_000) + "}")),
    error: SafetensorsError,
    message: /./,
    ms: 2000,
  },
  {
    name: "encoding: data shorter than the shape",
    run: () => encodeSafetensors({ a: { dtype: "F32", shape: [3], data: new Float32Array(1) } }),
    error: SafetensorsError,
    message: /./,
  },
]);

add("checkpoint", [
  {
    name: "not safetensors",
    run: () => decodeCheckpoint(new TextEncoder().encode("hello world, no checkpoint")),
    error: CheckpointError,
    message: /<bytes>/,
  },
  {
    name: "format missing",
    run: () => decodeCheckpoint(rewrite(plain, (_, m) => delete m.format)),
    error: CheckpointError,
    message: /format is undefined/,
  },
  {
    name: "format of another program",
    run: () => decodeCheckpoint(rewrite(plain, (_, m) => (m.format = "pt"))),
    error: CheckpointError,
    message: /format is "pt"/,
  },
  {
    name: "config missing",
    run: () => decodeCheckpoint(rewrite(plain, (_, m) => delete m.config)),
    error: CheckpointError,
    message: /no "config"/,
  },
  {
    name: "config not JSON",
    run: () => decodeCheckpoint(rewrite(plain, (_, m) => (m.config = "{"))),
    error: CheckpointError,
    message: /"config" is not valid JSON/,
  },
  {
    name: "config nLayer 0",
    run: () => decodeCheckpoint(editConfig(plain, { nLayer: 0 })),
    error: CheckpointError,
    message: /nLayer/,
  },
  {
    name: "config nLayer fractional",
    run: () => decodeCheckpoint(editConfig(plain, { nLayer: 1.5 })),
    error: CheckpointError,
    message: /nLayer/,
  },
  {
    name: "config heads do not divide the width",
    run: () => decodeCheckpoint(editConfig(plain, { nHead: 3 })),
    error: CheckpointError,
    message: /nHead|divid/,
  },
  {
    name: "config claims a billion layers",
    run: () => decodeCheckpoint(editConfig(plain, { nLayer: 1e9 })),
    error: CheckpointError,
    message: /implies .* parameters, but the file holds only/,
    ms: 200,
  },
  {
    name: "config claims a huge vocabulary",
    run: () => decodeCheckpoint(editConfig(plain, { vocabSize: 2 ** 31 })),
    error: CheckpointError,
    message: /implies|vocabSize/,
    ms: 200,
  },
  {
    name: "config claims a huge width",
    run: () => decodeCheckpoint(editConfig(plain, { nEmbd: 2 ** 20, nHead: 2 })),
    error: CheckpointError,
    message: /implies|nEmbd/,
    ms: 200,
  },
  {
    name: "config says 2 layers, file has 1",
    run: () => decodeCheckpoint(editConfig(withTraining, { nLayer: 2 })),
    error: CheckpointError,
    message: /missing|implies/,
  },
  {
    name: "tensor missing",
    run: () => decodeCheckpoint(rewrite(plain, (t) => delete t["model.wpe.weight"])),
    error: CheckpointError,
    message: /implies|"model.wpe.weight" is missing/,
  },
  {
    name: "tensor the config does not expect",
    run: () =>
      decodeCheckpoint(
        rewrite(
          plain,
          (
            t,
          ) => (t["model.h.7.attn.c_attn.weight"] = {
            dtype: "F32",
            shape: [1],
            data: new Float32Array(1),
          }),
        ),
      ),
    error: CheckpointError,
    message: /does not expect, e.g. "model.h.7.attn.c_attn.weight"/,
  },
  {
    name: "tied file, untied config",
    run: () => decodeCheckpoint(editConfig(plain, { tiedEmbeddings: false })),
    error: CheckpointError,
    message: /"model.lm_head.weight" is missing|implies/,
  },
  {
    name: "optimizer state without training metadata",
    run: () => decodeCheckpoint(rewrite(withTraining, (_, m) => delete m.training)),
    error: CheckpointError,
    message: /does not expect.*adamw/,
  },
  {
    name: "tensor of the wrong dtype",
    run: () =>
      decodeCheckpoint(
        rewrite(
          plain,
          (
            t,
          ) => (t["model.wpe.weight"] = {
            dtype: "F64",
            shape: [8, 8],
            data: new Float64Array(64),
          }),
        ),
      ),
    error: CheckpointError,
    message: /is F64 \[8,8\], expected F32 \[8,8\]/,
  },
  {
    name: "tensor of the wrong shape",
    run: () =>
      decodeCheckpoint(
        rewrite(
          plain,
          (
            t,
          ) => (t["model.wpe.weight"] = { dtype: "F32", shape: [64], data: new Float32Array(64) }),
        ),
      ),
    error: CheckpointError,
    message: /expected F32 \[8,8\]/,
  },
  {
    name: "extra metadata not JSON",
    run: () => decodeCheckpoint(rewrite(plain, (_, m) => (m.extra = "}"))),
    error: CheckpointError,
    message: /"extra" is not valid JSON/,
  },
  {
    name: "training not JSON",
    run: () => decodeCheckpoint(rewrite(withTraining, (_, m) => (m.training = "x"))),
    error: CheckpointError,
    message: /"training" is not valid JSON/,
  },
  {
    name: "training step negative",
    run: () => decodeCheckpoint(editTraining({ step: -1 })),
    error: CheckpointError,
    message: /training.step must be an integer ≥ 0/,
  },
  {
    name: "training adamT differs from step",
    run: () => decodeCheckpoint(editTraining({ adamT: 5 })),
    error: CheckpointError,
    message: /adamT .* must equal/,
  },
  {
    name: "training sampler state not 32-bit",
    run: () => decodeCheckpoint(editTraining({ samplerState: 2 ** 40 })),
    error: CheckpointError,
    message: /samplerState/,
  },
  {
    name: "training step past the run",
    run: () => decodeCheckpoint(editTraining({ step: 99, adamT: 99 })),
    error: CheckpointError,
    message: /past the run/,
  },
  {
    name: "training lr NaN",
    run: () => decodeCheckpoint(editTrainConfig({ lr: "NaN" })),
    error: CheckpointError,
    message: /lr must be a finite number > 0/,
  },
  {
    name: "training config with an unknown field",
    run: () => decodeCheckpoint(editTrainConfig({ dropout: 0.1 })),
    error: CheckpointError,
    message: /unknown field "dropout"/,
  },
  {
    name: "optimizer moment missing",
    run: () => decodeCheckpoint(rewrite(withTraining, (t) => delete t["adamw.m.wte.weight"])),
    error: CheckpointError,
    message: /adamw.m.wte.weight/,
  },
]);

add("huggingface gpt-2", [
  {
    name: "not safetensors",
    run: () => gpt2FromSafetensors(new Uint8Array(16), hfOptions),
    error: HfGpt2Error,
    message: /./,
  },
  {
    name: "no wte",
    run: () => gpt2FromSafetensors(hf((t) => delete t["wte.weight"]), hfOptions),
    error: HfGpt2Error,
    message: /"wte.weight".*missing/,
  },
  {
    name: "no blocks",
    run: () =>
      gpt2FromSafetensors(
        hf((t) => {
          for (const k of Object.keys(t)) if (k.startsWith("h.")) delete t[k];
        }),
        hfOptions,
      ),
    error: HfGpt2Error,
    message: /no Transformer blocks/,
  },
  {
    name: "a block numbered a billion",
    run: () =>
      gpt2FromSafetensors(
        hf((
          t,
        ) => (t["h.999999999.ln_1.weight"] = {
          dtype: "F32",
          shape: [8],
          data: new Float32Array(8),
        })),
        hfOptions,
      ),
    error: HfGpt2Error,
    message:
      /block h.999999999 is present but 999999998 of the 1000000000 blocks before it are missing \(h.1–h.999999998\)/,
    ms: 200,
  },
  {
    name: "a block missing in the middle",
    run: () =>
      gpt2FromSafetensors(
        hf((t) => (t["h.2.ln_1.weight"] = { dtype: "F32", shape: [8], data: new Float32Array(8) })),
        hfOptions,
      ),
    error: HfGpt2Error,
    message: /missing \(h.1\)/,
  },
  {
    name: "one tensor of a block missing",
    run: () => gpt2FromSafetensors(hf((t) => delete t["h.0.mlp.c_fc.bias"]), hfOptions),
    error: HfGpt2Error,
    message: /missing tensor "h.0.mlp.c_fc.bias"/,
  },
  {
    name: "widths differ",
    run: () =>
      gpt2FromSafetensors(
        hf((t) => (t["wpe.weight"] = { dtype: "F32", shape: [8, 4], data: new Float32Array(32) })),
        hfOptions,
      ),
    error: HfGpt2Error,
    message: /widths differ/,
  },
  {
    name: "wrong shape",
    run: () =>
      gpt2FromSafetensors(
        hf((
          t,
        ) => (t["h.0.attn.c_proj.weight"] = {
          dtype: "F32",
          shape: [4, 16],
          data: new Float32Array(64),
        })),
        hfOptions,
      ),
    error: HfGpt2Error,
    message: /has shape \[4,16\], expected \[8,8\]/,
  },
  {
    name: "integer weights",
    run: () =>
      gpt2FromSafetensors(
        hf((t) => (t["ln_f.bias"] = { dtype: "I32", shape: [8], data: new Int32Array(8) })),
        hfOptions,
      ),
    error: HfGpt2Error,
    message: /is I32; expected F32, F16 or BF16/,
  },
  {
    name: "unknown width without nHead",
    run: () => gpt2FromSafetensors(hf()),
    error: HfGpt2Error,
    message: /pass nHead/,
  },
  {
    name: "an unexpected tensor",
    run: () =>
      gpt2FromSafetensors(
        hf((
          t,
        ) => (t["h.0.attn.c_q.weight"] = {
          dtype: "F32",
          shape: [8, 8],
          data: new Float32Array(64),
        })),
        hfOptions,
      ),
    error: HfGpt2Error,
    message: /unexpected tensor/,
  },
  {
    name: "1-D embedding",
    run: () =>
      gpt2FromSafetensors(
        hf((t) => (t["wte.weight"] = { dtype: "F32", shape: [56], data: new Float32Array(56) })),
        hfOptions,
      ),
    error: HfGpt2Error,
    message: /expected 2-D/,
  },
]);

const bpe = BpeTokenizer.train("the cat sat on the mat, the cat ate the rat. ".repeat(20), 270);
add("tokenizers", [
  {
    name: "char: unknown symbol in a prompt",
    run: () => new CharTokenizer([..."abc"]).encode("abz"),
    error: Error,
    message: /"z"/,
  },
  {
    name: "char: duplicate symbols",
    run: () => new CharTokenizer(["a", "a"]),
    error: Error,
    message: /duplicate symbol "a"/,
  },
  {
    name: "char: a symbol of two characters",
    run: () => new CharTokenizer(["ab"]),
    error: Error,
    message: /not one character/,
  },
  {
    name: "char: fromJSON of something else",
    run: () => CharTokenizer.fromJSON({ type: "bpe" }),
    error: Error,
    message: /expected \{type: 'char'/,
  },
  {
    name: "char: decode of an unknown id",
    run: () => new CharTokenizer([..."abc"]).decode(Int32Array.of(0, 9)),
    error: Error,
    message: /9/,
  },
  {
    name: "bpe: fromJSON not JSON",
    run: () => BpeTokenizer.fromJSON("{"),
    error: Error,
    message: /not valid JSON/,
  },
  {
    name: "bpe: fromJSON of another type",
    run: () => BpeTokenizer.fromJSON({ type: "char" }),
    error: Error,
    message: /expected \{type: "bpe"/,
  },
  {
    name: "bpe: unknown pattern",
    run: () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "xx", merges: [] }),
    error: Error,
    message: /unknown pattern "xx"/,
  },
  {
    name: "bpe: merges not an array",
    run: () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt2", merges: 5 }),
    error: Error,
    message: /merges must be an array/,
  },
  {
    name: "bpe: a merge of an id not yet defined",
    run: () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt2", merges: [[300, 1]] }),
    error: Error,
    message: /300|merge/,
  },
  {
    name: "bpe: a merge that is not a pair",
    run: () => BpeTokenizer.fromJSON({ type: "bpe", pattern: "gpt2", merges: [[1, 2, 3]] }),
    error: Error,
    message: /merge|pair/,
  },
  {
    name: "bpe: decode of an id past the vocabulary",
    run: () => bpe.decode(Int32Array.of(99999)),
    error: Error,
    message: /99999/,
  },
]);

const logits = Float32Array.of(0.5, 1, -1);
add("sampling", [
  {
    name: "temperature negative",
    run: () => sampleToken(logits, { temperature: -1, topK: 0 }, new Rng(0)),
    error: RangeError,
    message: /temperature must be a finite number >= 0/,
  },
  {
    name: "temperature NaN",
    run: () => sampleToken(logits, { temperature: NaN, topK: 0 }, new Rng(0)),
    error: RangeError,
    message: /temperature/,
  },
  {
    name: "temperature Infinity",
    run: () => sampleToken(logits, { temperature: Infinity, topK: 0 }, new Rng(0)),
    error: RangeError,
    message: /temperature/,
  },
  {
    name: "topK fractional",
    run: () => sampleToken(logits, { temperature: 1, topK: 1.5 }, new Rng(0)),
    error: RangeError,
    message: /topK must be an integer >= 0/,
  },
  {
    name: "topK negative",
    run: () => sampleToken(logits, { temperature: 1, topK: -2 }, new Rng(0)),
    error: RangeError,
    message: /topK/,
  },
  {
    name: "a NaN logit",
    run: () => sampleToken(Float32Array.of(0, NaN, 1), { temperature: 1, topK: 0 }, new Rng(0)),
    error: NonFiniteError,
    message: /logit 1 is NaN/,
  },
  {
    name: "a +Infinity logit",
    run: () => sampleToken(Float32Array.of(0, Infinity), { temperature: 0, topK: 0 }, new Rng(0)),
    error: NonFiniteError,
    message: /logit 1 is Infinity/,
  },
  {
    name: "every logit -Infinity",
    run: () =>
      sampleToken(Float32Array.of(-Infinity, -Infinity), { temperature: 1, topK: 0 }, new Rng(0)),
    error: NonFiniteError,
    message: /every logit is -Infinity/,
  },
  {
    name: "generate: empty prompt",
    run: () => generate(model, [], { maxNewTokens: 1 }),
    error: Error,
    message: /prompt is empty/,
  },
  {
    name: "generate: token outside the vocabulary",
    run: () => generate(model, [1, 7], { maxNewTokens: 1 }),
    error: Error,
    message: /token 7 at position 1 is outside \[0, 7\)/,
  },
  {
    name: "generate: maxNewTokens fractional",
    run: () => generate(model, [1], { maxNewTokens: 2.5 }),
    error: Error,
    message: /maxNewTokens must be a non-negative integer/,
  },
  {
    name: "generate: temperature negative, before any work",
    run: () => generate(model, [1], { maxNewTokens: 1e9, temperature: -1 }),
    error: RangeError,
    message: /temperature/,
    ms: 100,
  },
  {
    name: "generate: NaN weights are named, never sampled from",
    run: () => {
      const broken = GPT.create(CONFIG, 3);
      const w = broken.params.get("h.0.mlp.c_fc.weight")!;
      const nan = tf.fill(w.shape, NaN);
      w.assign(nan);
      nan.dispose();
      try {
        return generate(broken, [1, 2], { maxNewTokens: 2 });
      } finally {
        broken.dispose();
      }
    },
    error: NonFiniteError,
    message: /parameter h.0.mlp.c_fc.weight holds NaN at index 0/,
  },
]);

const good = defaultTrainConfig({ steps: 10, batchSize: 4 });
const bad = (change: Record<string, unknown>) => () =>
  validateTrainConfig({ ...good, ...change } as unknown as TrainConfig);
add("training settings", [
  {
    name: "steps 0",
    run: bad({ steps: 0 }),
    error: TrainConfigError,
    message: /steps must be an integer ≥ 1, got 0/,
  },
  {
    name: "steps fractional",
    run: bad({ steps: 2.5 }),
    error: TrainConfigError,
    message: /steps must be an integer ≥ 1/,
  },
  {
    name: "batchSize 0",
    run: bad({ batchSize: 0 }),
    error: TrainConfigError,
    message: /batchSize/,
  },
  {
    name: "lr 0",
    run: bad({ lr: 0 }),
    error: TrainConfigError,
    message: /lr must be a finite number > 0, got 0/,
  },
  { name: "lr negative", run: bad({ lr: -1e-3 }), error: TrainConfigError, message: /lr must be/ },
  {
    name: "lr a string",
    run: bad({ lr: "3e-4" }),
    error: TrainConfigError,
    message: /lr must be .*"3e-4"/,
  },
  {
    name: "minLr above lr",
    run: bad({ minLr: 1 }),
    error: TrainConfigError,
    message: /minLr \(1\) must not exceed lr/,
  },
  {
    name: "beta1 = 1",
    run: bad({ beta1: 1 }),
    error: TrainConfigError,
    message: /beta1 must be in \[0, 1\)/,
  },
  { name: "beta2 negative", run: bad({ beta2: -0.1 }), error: TrainConfigError, message: /beta2/ },
  {
    name: "weightDecay negative",
    run: bad({ weightDecay: -1 }),
    error: TrainConfigError,
    message: /weightDecay/,
  },
  {
    name: "gradClip 0",
    run: bad({ gradClip: 0 }),
    error: TrainConfigError,
    message: /gradClip must be > 0/,
  },
  {
    name: "warmupSteps negative",
    run: bad({ warmupSteps: -5 }),
    error: TrainConfigError,
    message: /warmupSteps/,
  },
  {
    name: "evalBatches 0",
    run: bad({ evalBatches: 0 }),
    error: TrainConfigError,
    message: /evalBatches/,
  },
  {
    name: "threads not dividing the batch",
    run: bad({ threads: 3 }),
    error: TrainConfigError,
    message: /threads \(3\) must be a positive integer dividing batchSize \(4\)/,
  },
  {
    name: "an unknown field (a typo)",
    run: bad({ learningRate: 1e-3 }),
    error: TrainConfigError,
    message: /unknown field "learningRate"/,
  },
  {
    name: "a field missing",
    run: () => validateTrainConfig({ ...good, seed: undefined } as unknown as TrainConfig),
    error: TrainConfigError,
    message: /seed must be a safe integer/,
  },
  {
    name: "a hand-built config reaching the Trainer",
    run: () => new Trainer(model, { train: tokens, val: tokens }, { ...good, lr: NaN }),
    error: TrainConfigError,
    message: /lr must be/,
  },
]);

const ftGood = defaultFineTuneConfig({ steps: 4 });
const ftBad = (change: Record<string, unknown>) => () =>
  validateFineTuneConfig({ ...ftGood, ...change } as unknown as FineTuneConfig);
add("fine-tuning and optimizer settings", [
  {
    name: "fine-tune lr negative (gradient ascent)",
    run: ftBad({ lr: -1e-3 }),
    error: FineTuneConfigError,
    message: /lr must be a finite number > 0, got -0.001/,
  },
  {
    name: "fine-tune weightDecay negative",
    run: ftBad({ weightDecay: -0.1 }),
    error: FineTuneConfigError,
    message: /weightDecay must be a finite number ≥ 0/,
  },
  {
    name: "fine-tune beta2 = 1",
    run: ftBad({ beta2: 1 }),
    error: FineTuneConfigError,
    message: /beta2 must be in \[0, 1\)/,
  },
  {
    name: "fine-tune gradClip negative",
    run: ftBad({ gradClip: -1 }),
    error: FineTuneConfigError,
    message: /gradClip must be > 0/,
  },
  {
    name: "fine-tune lambda Infinity",
    run: ftBad({ lambda: Infinity }),
    error: FineTuneConfigError,
    message: /lambda must be a finite number ≥ 0/,
  },
  {
    name: "fine-tune evalExamples fractional",
    run: ftBad({ evalExamples: 2.5 }),
    error: FineTuneConfigError,
    message: /evalExamples must be an integer ≥ 0/,
  },
  {
    name: "fine-tune unknown field",
    run: ftBad({ warmup: 10 }),
    error: FineTuneConfigError,
    message: /unknown field "warmup"/,
  },
  {
    name: "fine-tune config built by hand reaching the FineTuner",
    run: () => {
      const base = CharTokenizer.fromText("ab");
      const tok = new TaskTokenizer(base);
      const m = GPT.create(makeConfig({ ...CONFIG, vocabSize: tok.vocabSize }), 1);
      const head = TaskHead.forTask("classification", 2, m.config.nEmbd, 1);
      try {
        return new FineTuner(m, head, tok, {
          kind: "classification",
          numClasses: 2,
          train: [{ text: "ab", label: 0 }],
          val: [],
        }, { ...ftGood, beta1: 1.5 });
      } finally {
        m.dispose();
        head.dispose();
      }
    },
    error: FineTuneConfigError,
    message: /beta1 must be in \[0, 1\), got 1.5/,
  },
  {
    name: "fine-tuning from weights that hold NaN names the step and the parameter",
    run: async () => {
      const base = CharTokenizer.fromText("ab");
      const tok = new TaskTokenizer(base);
      const m = GPT.create(makeConfig({ ...CONFIG, vocabSize: tok.vocabSize }), 1);
      const w = m.params.get("h.0.mlp.c_fc.weight")!;
      const values = w.dataSync().slice();
      values[3] = NaN;
      tf.tidy(() => w.assign(tf.tensor(values, w.shape)));
      const head = TaskHead.forTask("classification", 2, m.config.nEmbd, 1);
      const tuner = new FineTuner(m, head, tok, {
        kind: "classification",
        numClasses: 2,
        train: [{ text: "ab", label: 0 }, { text: "ba", label: 1 }],
        val: [],
      }, { ...ftGood, batchSize: 2 });
      try {
        return await tuner.trainStep();
      } finally {
        m.dispose();
        head.dispose();
      }
    },
    error: Error,
    message:
      /fine-tuning step 1 of 4 \(lr [^)]*\): AdamW\.step: .*parameter "h\.0\.mlp\.c_fc\.weight" holds NaN at index 3/,
  },
  {
    name: "lossByPosition with 0 batches (would average nothing into NaN)",
    run: () => lossByPosition(model, tokens, { batches: 0 }),
    error: RangeError,
    message: /lossByPosition: batches must be an integer ≥ 1, got 0/,
  },
  {
    name: "lossByPosition with windows longer than the model's context",
    run: () => lossByPosition(model, tokens, { contextLength: 64 }),
    error: RangeError,
    message: /lossByPosition: contextLength 64 exceeds the model's 8/,
  },
  {
    name: "AdamW eps 0",
    run: () => new AdamW(new Map(), { eps: 0 }),
    error: RangeError,
    message: /AdamW: eps must be a finite number > 0, got 0/,
  },
  {
    name: "AdamW beta1 negative",
    run: () => new AdamW(new Map(), { beta1: -0.5 }),
    error: RangeError,
    message: /AdamW: beta1 must be in \[0, 1\), got -0.5/,
  },
  {
    name: "BatchSampler batchSize 0",
    run: () => new BatchSampler(tokens, 0, 4),
    error: RangeError,
    message: /BatchSampler: batchSize must be an integer ≥ 1, got 0/,
  },
  {
    name: "BatchSampler contextLength fractional",
    run: () => new BatchSampler(tokens, 2, 3.5),
    error: RangeError,
    message: /BatchSampler: contextLength must be an integer ≥ 1, got 3.5/,
  },
  {
    name: "BatchSampler seed NaN",
    run: () => new BatchSampler(tokens, 2, 4, NaN),
    error: RangeError,
    message: /BatchSampler: seed must be a safe integer, got NaN/,
  },
]);

add("model settings", [
  {
    name: "vocabSize 0",
    run: () => makeConfig({ ...CONFIG, vocabSize: 0 }),
    error: ConfigError,
    message: /vocabSize/,
  },
  {
    name: "contextLength negative",
    run: () => makeConfig({ ...CONFIG, contextLength: -8 }),
    error: ConfigError,
    message: /contextLength/,
  },
  {
    name: "nEmbd fractional",
    run: () => makeConfig({ ...CONFIG, nEmbd: 8.5 }),
    error: ConfigError,
    message: /nEmbd/,
  },
  {
    name: "nHead not dividing nEmbd",
    run: () => makeConfig({ ...CONFIG, nHead: 3 }),
    error: ConfigError,
    message: /nHead/,
  },
  {
    name: "dropout 1",
    run: () => makeConfig({ ...CONFIG, dropout: 1 }),
    error: ConfigError,
    message: /dropout/,
  },
  {
    name: "norm neither pre nor post",
    run: () => makeConfig({ ...CONFIG, norm: "middle" as "pre" }),
    error: ConfigError,
    message: /norm/,
  },
  {
    name: "attention patterns for the wrong number of layers",
    run: () => makeConfig({ ...CONFIG, attention: [] }),
    error: ConfigError,
    message: /one pattern per layer/,
  },
  {
    name: "nLayer a string",
    run: () => makeConfig({ ...CONFIG, nLayer: "2" as unknown as number }),
    error: ConfigError,
    message: /nLayer/,
  },
]);

Deno.test(`bad input: ${cases.length} cases, each a typed error naming the problem, in bounded time, leaking nothing`, async () => {
  assert.ok(cases.length >= 100, `only ${cases.length} cases`);
  const failures: string[] = [];
  for (const c of cases) {
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    let error: unknown;
    try {
      await c.run();
    } catch (err) {
      error = err;
    }
    const ms = performance.now() - t0;
    const where = `${c.area}: ${c.name}`;
    if (error === undefined) failures.push(`${where}: no error`);
    else if (!(error instanceof c.error)) {
      failures.push(
        `${where}: ${(error as Error).name ?? typeof error} (${
          (error as Error).message
        }), expected ${c.error.name}`,
      );
    } else if (!c.message.test(error.message)) {
      failures.push(`${where}: message "${error.message}" does not match ${c.message}`);
    }
    if (ms > (c.ms ?? 500)) {
      failures.push(`${where}: took ${ms.toFixed(0)} ms (bound ${c.ms ?? 500})`);
    }
    if (tf.memory().numTensors !== before) {
      failures.push(`${where}: leaked ${tf.memory().numTensors - before} tensors`);
    }
  }
  assert.deepEqual(failures, []);
});

// ---------------------------------------------------------------------------
// Mutation fuzz test of the decoders.

Deno.test("fuzz: mutated safetensors and checkpoints end in a value or a typed error, fast, with no leak", () => {
  const rng = new Rng(20261203);
  const sources = [plain, withTraining];
  const outcomes = { loaded: 0, rejected: 0 };
  const deadline = performance.now() + 20_000;
  let worst = 0;
  for (let i = 0; i < 1500 && performance.now() < deadline; i++) {
    const source = sources[i % sources.length];
    const bytes = source.slice();
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const kind = i % 4;
    if (kind === 0) {
      // A few random bytes anywhere.
      for (let k = 0; k < 1 + rng.int(4); k++) bytes[rng.int(bytes.length)] = rng.int(256);
    } else if (kind === 1) {
      // A few random bytes in the header (names, shapes, offsets, metadata).
      for (let k = 0; k < 1 + rng.int(3); k++) bytes[8 + rng.int(headerLength)] = 32 + rng.int(95);
    } else if (kind === 2) {
      // A digit of the header changed: numbers the file claims.
      const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
      const digits = [...text.matchAll(/\d/g)].map((m) => m.index!);
      const at = digits[rng.int(digits.length)];
      bytes[8 + at] = 48 + rng.int(10);
    } else {
      // Truncated, or the header length changed.
      if (rng.next() < 0.5) {
        const cut = bytes.subarray(0, rng.int(bytes.length));
        bytes.fill(0);
        bytes.set(cut);
      } else {
        new DataView(bytes.buffer).setBigUint64(0, BigInt(rng.int(headerLength * 2)), true);
      }
    }
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    try {
      const loaded = decodeCheckpoint(bytes);
      loaded.model.dispose();
      outcomes.loaded++;
    } catch (err) {
      if (!(err instanceof CheckpointError)) {
        throw new Error(
          `mutation ${i} (kind ${kind}) threw ${(err as Error).name}: ${(err as Error).message}`,
        );
      }
      outcomes.rejected++;
    }
    worst = Math.max(worst, performance.now() - t0);
    assert.equal(tf.memory().numTensors, before, `mutation ${i} (kind ${kind}) leaked tensors`);
  }
  console.log(`fuzz outcomes: ${JSON.stringify(outcomes)}; slowest decode ${worst.toFixed(1)} ms`);
  assert.ok(worst < 500, `a mutated file took ${worst.toFixed(0)} ms to decode`);
  assert.ok(outcomes.loaded > 0 && outcomes.rejected > 100, JSON.stringify(outcomes));
});

// ---------------------------------------------------------------------------
// Atomic writes: orphaned temporary files are cleaned up, and nothing else is touched.

Deno.test("writeFileAtomic removes the orphans of killed writes to the same file, and only those", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = `${dir}/model.safetensors`;
    const orphan = `${dir}/.model.safetensors.0f8c7a42-1d2e-4b3c-9a8b-7c6d5e4f3a2b.tmp`;
    const fresh = `${dir}/.model.safetensors.1f8c7a42-1d2e-4b3c-9a8b-7c6d5e4f3a2b.tmp`;
    const other = `${dir}/.other.safetensors.2f8c7a42-1d2e-4b3c-9a8b-7c6d5e4f3a2b.tmp`;
    for (const p of [orphan, fresh, other]) await Deno.writeFile(p, new Uint8Array(10));
    const old = new Date(Date.now() - STALE_TEMP_MS - 60_000);
    await Deno.utime(orphan, old, old);
    await Deno.utime(other, old, old);
    await writeFileAtomic(target, Uint8Array.of(1, 2, 3));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      ".model.safetensors.1f8c7a42-1d2e-4b3c-9a8b-7c6d5e4f3a2b.tmp", // young: maybe a live write
      ".other.safetensors.2f8c7a42-1d2e-4b3c-9a8b-7c6d5e4f3a2b.tmp", // another file's
      "model.safetensors",
    ]);
    assert.deepEqual(await Deno.readFile(target), Uint8Array.of(1, 2, 3));
    // The young one goes once it is old too.
    assert.deepEqual(await removeStaleTemps(target, Date.now() + STALE_TEMP_MS + 60_000), [fresh]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// Tokenizers on adversarial text: cost linear in the input, round trips exact.

Deno.test("tokenizers stay linear on 200,000-character single pieces and round-trip them", () => {
  const gpt2 = new Gpt2Tokenizer();
  const rng = new Rng(7);
  const letters = Array.from({ length: 200_000 }, () => "abcdefghijklmnopqrstuvwxyz"[rng.int(26)])
    .join("");
  const inputs = {
    "one letter repeated": "a".repeat(200_000),
    "random letters": letters,
    "digits": "7".repeat(200_000),
    "spaces": " ".repeat(200_000),
    "emoji (surrogate pairs)": "😀".repeat(100_000),
  };
  for (const [label, text] of Object.entries(inputs)) {
    for (const [name, tok] of [["GPT-2", gpt2], ["course BPE", bpe]] as const) {
      const t0 = performance.now();
      const ids = tok.encode(text);
      const ms = performance.now() - t0;
      // Before the chunking, GPT-2's took 13-21 s on these, and overflowed the stack on spaces.
      assert.ok(ms < 5000, `${name}, ${label}: ${ms.toFixed(0)} ms`);
      assert.equal(tok.decode(ids), text, `${name}, ${label}: round trip`);
    }
  }
  // Around an over-long piece, the rest of the text is tokenised exactly as GPT-2 does.
  const long = "a".repeat(GPT2_MAX_PIECE * 3 + 7);
  const ids = [...gpt2.encode(`Hello world ${long} again`)];
  assert.deepEqual(ids.slice(0, 2), [15496, 995]);
  assert.deepEqual(ids.slice(-1), [...gpt2.encode(" again")]);
});
