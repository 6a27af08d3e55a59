/**
 * Kernels tfjs lacks (or implements slowly) on the CPU backends, registered at start-up.
 *
 * `UnsortedSegmentSum` is the gradient of `gather`, i.e. of every embedding lookup. The wasm
 * backend has no such kernel, so without this an embedding cannot train on wasm. The cpu backend
 * has one, but it loops over every segment with whole-tensor ops (O(vocab × tokens)); the direct
 * scatter-add below is O(tokens × width).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

type TypedArray = Float32Array | Int32Array;

interface WasmLikeBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): TypedArray;
}
interface CpuLikeBackend {
  readSync(dataId: unknown): TypedArray;
  makeTensorInfo(
    shape: number[],
    dtype: tf.DataType,
    values: TypedArray,
  ): tf.TensorInfo;
}

/** out[segmentIds[i], :] += x[i, :], with rows whose id is out of range dropped (as in TF). */
export function segmentSumInto(
  out: Float32Array | Int32Array,
  x: Float32Array | Int32Array,
  segmentIds: Int32Array | Float32Array,
  numSegments: number,
): void {
  const rows = segmentIds.length;
  const inner = rows === 0 ? 0 : x.length / rows;
  out.fill(0);
  for (let r = 0; r < rows; r++) {
    const s = segmentIds[r];
    if (s < 0 || s >= numSegments) continue;
    const src = r * inner, dst = s * inner;
    for (let k = 0; k < inner; k++) out[dst + k] += x[src + k];
  }
}

function outShape(
  x: tf.TensorInfo,
  segmentIds: tf.TensorInfo,
  numSegments: number,
): number[] {
  if (segmentIds.shape.length !== 1) {
    // The gather gradient always passes flat ids; keep the kernel honest about what it supports.
    throw new Error(
      `UnsortedSegmentSum: only 1-D segment ids are supported, got shape [${segmentIds.shape}]`,
    );
  }
  return [numSegments, ...x.shape.slice(1)];
}

const registered = new Set<string>();

/** Registers the course's own kernels for `backend` (idempotent). */
export function registerMissingKernels(backend: string): void {
  if (registered.has(backend)) return;
  registered.add(backend);
  if (backend === "wasm") {
    if (tf.getKernel("UnsortedSegmentSum", "wasm")) return;
    tf.registerKernel({
      kernelName: "UnsortedSegmentSum",
      backendName: "wasm",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, segmentIds } = inputs as {
          x: tf.TensorInfo;
          segmentIds: tf.TensorInfo;
        };
        const numSegments = (attrs as { numSegments: number }).numSegments;
        const b = backend as unknown as WasmLikeBackend;
        const out = b.makeOutput(outShape(x, segmentIds, numSegments), x.dtype);
        segmentSumInto(
          b.typedArrayFromHeap(out),
          b.typedArrayFromHeap(x),
          b.typedArrayFromHeap(segmentIds),
          numSegments,
        );
        return out;
      },
    });
  } else if (backend === "cpu") {
    if (tf.getKernel("UnsortedSegmentSum", "cpu")) {
      tf.unregisterKernel("UnsortedSegmentSum", "cpu");
    }
    tf.registerKernel({
      kernelName: "UnsortedSegmentSum",
      backendName: "cpu",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, segmentIds } = inputs as {
          x: tf.TensorInfo;
          segmentIds: tf.TensorInfo;
        };
        const numSegments = (attrs as { numSegments: number }).numSegments;
        const b = backend as unknown as CpuLikeBackend;
        const shape = outShape(x, segmentIds, numSegments);
        const values = x.dtype === "int32"
          ? new Int32Array(shape.reduce((a, d) => a * d, 1))
          : new Float32Array(shape.reduce((a, d) => a * d, 1));
        segmentSumInto(
          values,
          b.readSync(x.dataId),
          b.readSync(segmentIds.dataId),
          numSegments,
        );
        return b.makeTensorInfo(shape, x.dtype, values);
      },
    });
  }
}
