/**
 * A Web Worker that computes a GPT's loss gradient on the batches it is sent: the other half of
 * {@link ../train/parallel.ts}'s data parallelism. It holds its own copy of the model; each
 * request carries the current weights (one flat array) and a batch shard, and the reply carries
 * the loss and the flat gradient.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../backend.ts";
import { GPT } from "../model/gpt.ts";
import type { GPTConfig } from "../model/config.ts";
import { flattenInto, unflattenAssign } from "./flat.ts";

/** Messages the worker accepts. */
export type WorkerRequest =
  | { kind: "init"; config: GPTConfig; backend: BackendName }
  | {
    kind: "grad";
    weights: Float32Array;
    x: Int32Array;
    y: Int32Array;
    batchSize: number;
    contextLength: number;
    training: boolean;
    seed: number;
  };

/** Messages the worker sends back. */
export type WorkerReply =
  | { kind: "ready" }
  | { kind: "grad"; loss: number; grads: Float32Array }
  | { kind: "error"; message: string };

let model: GPT | undefined;

const post = (reply: WorkerReply, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(reply, transfer);

(self as unknown as Worker).onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const msg = event.data;
  try {
    if (msg.kind === "init") {
      await initBackend({ backend: msg.backend });
      model = GPT.create(msg.config, 0);
      post({ kind: "ready" });
      return;
    }
    if (!model) throw new Error("grad worker: not initialised");
    const m = model;
    unflattenAssign(m.params, msg.weights);
    const shape: [number, number] = [msg.batchSize, msg.contextLength];
    const x = tf.tensor2d(msg.x, shape, "int32"), y = tf.tensor2d(msg.y, shape, "int32");
    const { value, grads } = m.valueAndGrads(() =>
      m.loss(x, y, { training: msg.training, seed: msg.seed })
    );
    const loss = value.dataSync()[0];
    const flat = new Float32Array(msg.weights.length);
    flattenInto(grads, m.params, flat);
    tf.dispose([x, y, value, ...grads.values()]);
    post({ kind: "grad", loss, grads: flat }, [flat.buffer]);
  } catch (err) {
    post({ kind: "error", message: (err as Error).stack ?? String(err) });
  }
};
