/**
 * Checkpoints as safetensors files: the model's parameters (and, for resuming, the optimizer's
 * moments, the step and the sampler's position), with the configuration in the file's metadata.
 * Files are written atomically (temp file, fsync, rename), so a crash mid-save never leaves a
 * truncated checkpoint in place of a good one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { GPT, parameterShapes, paramVariable } from "../model/gpt.ts";
import { type GPTConfig, makeConfig } from "../model/config.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type TensorInput,
  toFloat32,
} from "../io/safetensors.ts";
import { readFileChecked, writeFileAtomic } from "../io/atomic.ts";
import type { TrainConfig, Trainer } from "./trainer.ts";

const FORMAT = "gpt-course-checkpoint/1";

/** A checkpoint that cannot be used, with the reason. */
export class CheckpointError extends Error {
  /** Creates the error. */
  constructor(path: string, reason: string) {
    super(`corrupt or incompatible checkpoint ${path}: ${reason}`);
    this.name = "CheckpointError";
  }
}

/** The training state stored alongside the weights. */
export interface TrainingState {
  step: number;
  samplerState: number;
  trainConfig: TrainConfig;
  adamT: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/** What {@link loadCheckpoint} returns. */
export interface LoadedCheckpoint {
  model: GPT;
  /** Present when the checkpoint was saved from a {@link Trainer}. */
  training?: TrainingState;
  /** Whatever the caller stored (e.g. the tokenizer). */
  extra: Record<string, unknown>;
}

/** Serialises a model (and optionally its trainer's state) to safetensors bytes. */
export async function encodeCheckpoint(
  model: GPT,
  options: { trainer?: Trainer; extra?: Record<string, unknown> } = {},
): Promise<Uint8Array> {
  const tensors: Record<string, TensorInput> = {};
  for (const [name, p] of model.params) {
    tensors[`model.${name}`] = {
      dtype: "F32",
      shape: p.shape,
      data: (await p.data()) as Float32Array,
    };
  }
  const metadata: Record<string, string> = {
    format: FORMAT,
    config: JSON.stringify(model.config),
    extra: JSON.stringify(options.extra ?? {}),
  };
  const trainer = options.trainer;
  if (trainer) {
    const state = trainer.optimizer.state;
    for (const [name, p] of model.params) {
      tensors[`adamw.m.${name}`] = {
        dtype: "F32",
        shape: p.shape,
        data: state.m.get(name)!,
      };
      tensors[`adamw.v.${name}`] = {
        dtype: "F32",
        shape: p.shape,
        data: state.v.get(name)!,
      };
    }
    metadata.training = JSON.stringify({
      step: trainer.step,
      samplerState: trainer.sampler.state,
      trainConfig: trainer.config,
      adamT: state.t,
    });
  }
  return encodeSafetensors(tensors, metadata);
}

/** Writes a checkpoint atomically. */
export async function saveCheckpoint(
  path: string,
  model: GPT,
  options: { trainer?: Trainer; extra?: Record<string, unknown> } = {},
): Promise<void> {
  await writeFileAtomic(path, await encodeCheckpoint(model, options));
}

function parseJson(
  path: string,
  metadata: Record<string, string>,
  key: string,
): unknown {
  const raw = metadata[key];
  if (raw === undefined) {
    throw new CheckpointError(path, `metadata has no "${key}"`);
  }
  try {
    return JSON.parse(raw);
  } catch {
    throw new CheckpointError(path, `metadata "${key}" is not valid JSON`);
  }
}

/** Decodes checkpoint bytes (validated as untrusted input) into a model and training state. */
export function decodeCheckpoint(
  bytes: Uint8Array,
  path = "<bytes>",
): LoadedCheckpoint {
  let file;
  try {
    file = decodeSafetensors(bytes);
  } catch (err) {
    throw new CheckpointError(path, (err as Error).message);
  }
  const { tensors, metadata } = file;
  if (metadata.format !== FORMAT) {
    throw new CheckpointError(
      path,
      `format is ${JSON.stringify(metadata.format)}, expected "${FORMAT}"`,
    );
  }
  let config: GPTConfig;
  try {
    config = makeConfig(parseJson(path, metadata, "config") as GPTConfig);
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(path, (err as Error).message);
  }
  const shapes = parameterShapes(config);
  const read = (key: string, shape: number[]): Float32Array => {
    const entry = tensors[key];
    if (!entry) throw new CheckpointError(path, `tensor "${key}" is missing`);
    if (entry.dtype !== "F32" || entry.shape.join() !== shape.join()) {
      throw new CheckpointError(
        path,
        `tensor "${key}" is ${entry.dtype} [${entry.shape}], expected F32 [${shape}]`,
      );
    }
    return toFloat32(entry);
  };
  const values = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    values.set(name, read(`model.${name}`, shape));
  }
  let training: TrainingState | undefined;
  if (metadata.training !== undefined) {
    const t = parseJson(path, metadata, "training") as Omit<
      TrainingState,
      "m" | "v"
    >;
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const [name, shape] of shapes) {
      m.set(name, read(`adamw.m.${name}`, shape));
      v.set(name, read(`adamw.v.${name}`, shape));
    }
    training = { ...t, m, v };
  }
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of shapes) {
    params.set(name, paramVariable(values.get(name)!, shape));
  }
  const extra = parseJson(path, metadata, "extra") as Record<string, unknown>;
  return { model: new GPT(config, params), training, extra };
}

/** Reads and validates a checkpoint file. */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  return decodeCheckpoint(await readFileChecked(path), path);
}
