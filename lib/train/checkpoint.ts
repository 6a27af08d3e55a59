/**
 * Checkpoints as safetensors files: the model's parameters (and, for resuming, the optimizer's
 * moments, the step and the sampler's position), with the configuration in the file's metadata.
 * Files are written atomically (temp file, fsync, rename), so a crash mid-save never leaves a
 * truncated checkpoint in place of a good one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { GPT, paramVariable } from "../model/gpt.ts";
import { countParams, type GPTConfig, makeConfig, parameterShapes } from "../model/config.ts";
import { decodeSafetensors, encodeSafetensors, type TensorInput, toFloat32 } from "../io/mod.ts";
import { readFileChecked, writeFileAtomic } from "../io/atomic.ts";
import { type TrainConfig, type TrainingState, validateTrainConfig } from "./config.ts";

const FORMAT = "gpt-course-checkpoint/1";

/** A checkpoint that cannot be used, with the reason. */
export class CheckpointError extends Error {
  /** Creates the error. */
  constructor(path: string, reason: string) {
    super(`corrupt or incompatible checkpoint ${path}: ${reason}`);
    this.name = "CheckpointError";
  }
}

/** What {@link loadCheckpoint} returns. */
export interface LoadedCheckpoint {
  /** The model, with the stored weights. */
  model: GPT;
  /** Present when the checkpoint was saved with a training state. */
  training?: TrainingState;
  /** Whatever the caller stored (e.g. the tokenizer). */
  extra: Record<string, unknown>;
}

/** Anything that reports where its run stands (a `Trainer` does). */
export interface HasTrainingState {
  /** The run's training state now. */
  trainingState(): TrainingState;
}

/** What {@link encodeCheckpoint} and {@link saveCheckpoint} store besides the weights. */
export interface CheckpointOptions {
  /** The training state, for resuming (optimizer moments, step, sampler position, settings). */
  training?: TrainingState;
  /** Shorthand for `training: trainer.trainingState()` (ignored when `training` is given). */
  trainer?: HasTrainingState;
  /** Whatever the caller wants back on loading (JSON; e.g. the tokenizer). */
  extra?: Record<string, unknown>;
}

/** Serialises a model (and optionally a training state) to safetensors bytes. */
export async function encodeCheckpoint(
  model: GPT,
  options: CheckpointOptions = {},
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
  const state = options.training ?? options.trainer?.trainingState();
  if (state) {
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
    // The keys in this order: the format is the bytes, and older files were written so.
    metadata.training = JSON.stringify({
      step: state.step,
      samplerState: state.samplerState,
      trainConfig: state.trainConfig,
      adamT: state.adamT,
    }, keepNonFinite);
  }
  return encodeSafetensors(tensors, metadata);
}

/** Writes a checkpoint atomically, creating its folder when it does not exist yet. */
export async function saveCheckpoint(
  path: string,
  model: GPT,
  options: CheckpointOptions = {},
): Promise<void> {
  const bytes = await encodeCheckpoint(model, options);
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  await writeFileAtomic(path, bytes);
}

/**
 * JSON has no Infinity or NaN (`JSON.stringify` writes them as `null`): a setting such as
 * `gradClip: Infinity` (clipping off) would come back as `null` and silently change the run.
 * Non-finite numbers are therefore written as the strings "Infinity", "-Infinity" and "NaN", and
 * {@link readNonFinite} turns exactly those strings back into numbers.
 */
function keepNonFinite(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? String(value) : value;
}

const NON_FINITE: Record<string, number> = { Infinity: Infinity, "-Infinity": -Infinity, NaN: NaN };

/** The reviver that undoes {@link keepNonFinite}. */
function readNonFinite(_key: string, value: unknown): unknown {
  return typeof value === "string" && value in NON_FINITE ? NON_FINITE[value] : value;
}

function parseJson(
  path: string,
  metadata: Record<string, string>,
  key: string,
  reviver?: (key: string, value: unknown) => unknown,
): unknown {
  const raw = metadata[key];
  if (raw === undefined) {
    throw new CheckpointError(path, `metadata has no "${key}"`);
  }
  try {
    return JSON.parse(raw, reviver);
  } catch {
    throw new CheckpointError(path, `metadata "${key}" is not valid JSON`);
  }
}

/**
 * The training state's scalars and config, checked before anything uses them: a resumed run
 * must train exactly as the saved one would have, or fail here saying why.
 */
function checkTrainingMeta(path: string, raw: unknown): Omit<TrainingState, "m" | "v"> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CheckpointError(path, `metadata "training" must be an object`);
  }
  const t = raw as Record<string, unknown>;
  for (const key of ["step", "adamT"] as const) {
    const v = t[key];
    if (!(typeof v === "number" && Number.isSafeInteger(v) && v >= 0)) {
      throw new CheckpointError(
        path,
        `training.${key} must be an integer ≥ 0, got ${JSON.stringify(v)}`,
      );
    }
  }
  if (t.adamT !== t.step) {
    throw new CheckpointError(
      path,
      `training.adamT (${t.adamT}) must equal training.step (${t.step}): one optimizer step per training step`,
    );
  }
  const s = t.samplerState;
  if (!(typeof s === "number" && Number.isInteger(s) && s >= 0 && s < 2 ** 32)) {
    throw new CheckpointError(
      path,
      `training.samplerState must be a 32-bit unsigned integer, got ${JSON.stringify(s)}`,
    );
  }
  let trainConfig: TrainConfig;
  try {
    trainConfig = validateTrainConfig(t.trainConfig as TrainConfig);
  } catch (err) {
    throw new CheckpointError(path, `training.trainConfig: ${(err as Error).message}`);
  }
  if ((t.step as number) > trainConfig.steps) {
    throw new CheckpointError(
      path,
      `training.step (${t.step}) is past the run's ${trainConfig.steps} steps`,
    );
  }
  return {
    step: t.step as number,
    adamT: t.adamT as number,
    samplerState: s,
    trainConfig,
  };
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
  // The config may claim any size: before anything is built from it, the values it implies must
  // be in the file (so the work below is bounded by the file's size, not by what it claims).
  const implied = countParams(config).total;
  const held = Object.values(tensors).reduce(
    (n, t) => n + t.shape.reduce((a, b) => a * b, 1),
    0,
  );
  if (implied > held) {
    throw new CheckpointError(
      path,
      `config (${config.nLayer} layers, width ${config.nEmbd}, vocabulary ${config.vocabSize}, ` +
        `context ${config.contextLength}) implies ${implied.toLocaleString("en-US")} parameters, ` +
        `but the file holds only ${held.toLocaleString("en-US")} values`,
    );
  }
  const shapes = parameterShapes(config);
  const hasTraining = metadata.training !== undefined;
  const expected = new Set<string>();
  for (const name of shapes.keys()) {
    expected.add(`model.${name}`);
    if (hasTraining) expected.add(`adamw.m.${name}`).add(`adamw.v.${name}`);
  }
  const unexpected = Object.keys(tensors).filter((key) => !expected.has(key));
  if (unexpected.length > 0) {
    throw new CheckpointError(
      path,
      `${unexpected.length} tensor(s) the config does not expect, e.g. ${
        unexpected.slice(0, 3).map((k) => JSON.stringify(k)).join(", ")
      } (config: ${config.nLayer} layers, ${config.tiedEmbeddings ? "tied" : "untied"} embeddings${
        hasTraining ? "" : ", no training state"
      })`,
    );
  }
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
    const t = checkTrainingMeta(path, parseJson(path, metadata, "training", readNonFinite));
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const [name, shape] of shapes) {
      m.set(name, read(`adamw.m.${name}`, shape));
      v.set(name, read(`adamw.v.${name}`, shape));
    }
    training = { ...t, m, v };
  }
  // Everything is checked before the first tf.Variable exists: a bad file leaks nothing.
  const extra = parseJson(path, metadata, "extra") as Record<string, unknown>;
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of shapes) {
    params.set(name, paramVariable(values.get(name)!, shape));
  }
  return { model: new GPT(config, params), training, extra };
}

/** Reads and validates a checkpoint file. */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  return decodeCheckpoint(await readFileChecked(path), path);
}
