/**
 * Data parallelism on one machine: each training batch is split into equal shards, the main
 * thread computes the gradient of one shard while Web Workers compute the others, and the mean
 * of the shard gradients (equal to the full batch's gradient) drives one optimizer step.
 *
 * tfjs' wasm backend runs single-threaded under Deno, so this is how a training step uses more
 * than one core. Results are deterministic for a given number of workers; they differ from the
 * single-thread run only in floating-point summation order (and in dropout masks).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../data.ts";
import { backendInfo, type BackendName } from "../backend.ts";
import type { GPTConfig } from "../model/config.ts";
import type { WorkerReply, WorkerRequest } from "./grad_worker.ts";

/** A pool of gradient workers, each holding a copy of the model. */
export class GradientWorkers {
  readonly #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /**
   * Starts `count` workers for models of this configuration on `backend` (default: the calling
   * thread's). Data parallelism is for the CPU backends only: when the workers or the calling
   * thread (which computes a shard of its own and reads it back synchronously) would run on
   * webgpu, this throws before starting any worker.
   */
  static async start(
    count: number,
    config: GPTConfig,
    backend: BackendName = backendInfo()?.name ?? (tf.getBackend() as BackendName),
  ): Promise<GradientWorkers> {
    if (backend === "webgpu" || tf.getBackend() === "webgpu") {
      throw new Error(
        "GradientWorkers: data parallelism (threads > 1) is for the CPU backends (wasm, cpu), " +
          "not webgpu; on webgpu train with threads: 1",
      );
    }
    const workers: Worker[] = [];
    for (let i = 0; i < count; i++) {
      workers.push(new Worker(new URL("./grad_worker.ts", import.meta.url), { type: "module" }));
    }
    const pool = new GradientWorkers(workers);
    await Promise.all(workers.map((w) => pool.#request(w, { kind: "init", config, backend })));
    return pool;
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  #request(
    worker: Worker,
    msg: WorkerRequest,
    transfer: Transferable[] = [],
  ): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<WorkerReply>) => {
        if (e.data.kind === "error") reject(new Error(`gradient worker failed: ${e.data.message}`));
        else resolve(e.data);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`gradient worker crashed: ${e.message}`));
      };
      worker.postMessage(msg, transfer);
    });
  }

  /**
   * Sends `weights` and one shard to each worker; resolves to each worker's loss and flat
   * gradient, in worker order.
   */
  grads(
    weights: Float32Array,
    shards: Batch[],
    training: boolean,
    seeds: number[],
  ): Promise<{ loss: number; grads: Float32Array }[]> {
    if (shards.length !== this.#workers.length) {
      throw new Error(
        `GradientWorkers.grads: ${shards.length} shards for ${this.#workers.length} workers`,
      );
    }
    return Promise.all(this.#workers.map(async (w, i) => {
      const s = shards[i];
      const reply = await this.#request(w, {
        kind: "grad",
        weights,
        x: s.x,
        y: s.y,
        batchSize: s.batchSize,
        contextLength: s.contextLength,
        training,
        seed: seeds[i],
      });
      if (reply.kind !== "grad") throw new Error(`gradient worker: unexpected reply ${reply.kind}`);
      return { loss: reply.loss, grads: reply.grads };
    }));
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }
}

/** Splits a batch into `n` shards of equal size (the batch size must be divisible by n). */
export function shardBatch(batch: Batch, n: number): Batch[] {
  if (batch.batchSize % n !== 0) {
    throw new Error(`cannot split a batch of ${batch.batchSize} into ${n} equal shards`);
  }
  const rows = batch.batchSize / n, size = rows * batch.contextLength;
  return Array.from({ length: n }, (_, i) => ({
    x: batch.x.slice(i * size, (i + 1) * size),
    y: batch.y.slice(i * size, (i + 1) * size),
    batchSize: rows,
    contextLength: batch.contextLength,
  }));
}
