/**
 * Packing a model's parameters (or gradients) into one flat Float32Array and back, in the
 * parameter map's order. Used to ship weights and gradients between workers in one message.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Total number of values of the given tensors. */
export function flatSize(params: Map<string, tf.Tensor>): number {
  let n = 0;
  for (const p of params.values()) n += p.size;
  return n;
}

/** Copies `tensors` (keyed like `order`) into `out`, in `order`'s key order. */
export function flattenInto(
  tensors: Map<string, tf.Tensor>,
  order: Map<string, tf.Tensor>,
  out: Float32Array,
): Float32Array {
  let offset = 0;
  for (const name of order.keys()) {
    const t = tensors.get(name);
    if (!t) throw new Error(`flattenInto: no tensor for "${name}"`);
    out.set(t.dataSync() as Float32Array, offset);
    offset += t.size;
  }
  if (offset !== out.length) {
    throw new Error(`flattenInto: ${offset} values for ${out.length} slots`);
  }
  return out;
}

/** Splits a flat array into per-parameter views (no copy), in the map's key order. */
export function unflattenViews(
  order: Map<string, tf.Tensor>,
  flat: Float32Array,
): Map<string, Float32Array> {
  const views = new Map<string, Float32Array>();
  let offset = 0;
  for (const [name, p] of order) {
    views.set(name, flat.subarray(offset, offset + p.size));
    offset += p.size;
  }
  if (offset !== flat.length) {
    throw new Error(`unflattenViews: ${flat.length} values for ${offset}`);
  }
  return views;
}

/** Assigns a flat array's values to the variables, in the map's key order. */
export function unflattenAssign(params: Map<string, tf.Variable>, flat: Float32Array): void {
  for (const [name, view] of unflattenViews(params, flat)) {
    const p = params.get(name)!;
    tf.tidy(() => p.assign(tf.tensor(view, p.shape)));
  }
}
