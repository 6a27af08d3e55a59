/**
 * Backend selection for tfjs under Deno.
 *
 * The order of preference is a real GPU through WebGPU, then WebAssembly (SIMD, one thread under
 * Deno), then tfjs' plain JavaScript `cpu` backend. `tf.setBackend` returns `false` and quietly
 * stays where it was when a backend fails, so every choice here is checked. Set
 * `GPT_COURSE_BACKEND=webgpu|wasm|cpu` to force one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerMissingKernels } from "./kernels/register.ts";

/** The backends the course knows how to run on. */
export type BackendName = "webgpu" | "wasm" | "cpu";

const KNOWN: BackendName[] = ["webgpu", "wasm", "cpu"];

/** What {@link initBackend} chose, and why. */
export interface BackendInfo {
  name: BackendName;
  /** A human-readable reason, e.g. "webgpu skipped: only a software adapter (llvmpipe)". */
  reason: string;
}

let current: BackendInfo | undefined;

/** Options for {@link initBackend}. */
export interface InitBackendOptions {
  /** Force a backend (overrides the environment variable). */
  backend?: BackendName;
  /** Allow WebGPU on a software (fallback) adapter; off by default because it is slow. */
  allowFallbackAdapter?: boolean;
}

function envBackend(): BackendName | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get("GPT_COURSE_BACKEND");
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
  if (!value) return undefined;
  if (!KNOWN.includes(value as BackendName)) {
    throw new Error(
      `GPT_COURSE_BACKEND="${value}" is not a backend; use one of ${KNOWN.join(", ")}`,
    );
  }
  return value as BackendName;
}

/** Returns the WebGPU adapter's description, or why there is no usable one. */
async function probeWebGpu(
  allowFallback: boolean,
): Promise<{ ok: boolean; reason: string }> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } })
    .gpu;
  if (!gpu) {
    return {
      ok: false,
      reason: "no navigator.gpu in this runtime",
    };
  }
  let adapter:
    | { isFallbackAdapter?: boolean; info?: Record<string, unknown> }
    | null;
  try {
    adapter = await gpu.requestAdapter() as typeof adapter;
  } catch (err) {
    return { ok: false, reason: `requestAdapter failed: ${err}` };
  }
  if (!adapter) return { ok: false, reason: "no WebGPU adapter" };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.device, info.description].filter(Boolean).join(" ") ||
    "unknown adapter";
  const fallback = adapter.isFallbackAdapter === true ||
    info.isFallbackAdapter === true ||
    /llvmpipe|swiftshader|software/i.test(name);
  if (fallback && !allowFallback) {
    return { ok: false, reason: `only a software adapter (${name})` };
  }
  return { ok: true, reason: name };
}

async function trySet(name: BackendName): Promise<void> {
  if (name === "webgpu") await import("@tensorflow/tfjs-backend-webgpu");
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) {
    throw new Error(
      `tf.setBackend("${name}") failed; tfjs is on "${tf.getBackend()}"`,
    );
  }
  registerMissingKernels(name);
}

/**
 * Picks and activates a backend: the forced one if given (failing loudly if it cannot start),
 * else WebGPU on a real adapter, else wasm, else cpu. Safe to call more than once.
 */
export async function initBackend(
  options: InitBackendOptions = {},
): Promise<BackendInfo> {
  const forced = options.backend ?? envBackend();
  if (current && (!forced || forced === current.name)) return current;
  if (forced) {
    if (forced === "webgpu") {
      const probe = await probeWebGpu(options.allowFallbackAdapter ?? true);
      if (!probe.ok) {
        throw new Error(`webgpu requested but unavailable: ${probe.reason}`);
      }
    }
    await trySet(forced);
    current = { name: forced, reason: "forced" };
    return current;
  }
  const probe = await probeWebGpu(options.allowFallbackAdapter ?? false);
  const reasons: string[] = [];
  if (probe.ok) {
    try {
      await trySet("webgpu");
      current = { name: "webgpu", reason: `WebGPU on ${probe.reason}` };
      return current;
    } catch (err) {
      reasons.push(`webgpu failed: ${(err as Error).message}`);
    }
  } else {
    reasons.push(`webgpu skipped: ${probe.reason}`);
  }
  try {
    await trySet("wasm");
    current = { name: "wasm", reason: reasons.join("; ") };
    return current;
  } catch (err) {
    reasons.push(`wasm failed: ${(err as Error).message}`);
  }
  await trySet("cpu");
  current = { name: "cpu", reason: reasons.join("; ") };
  return current;
}

/** The backend chosen by {@link initBackend}, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}
