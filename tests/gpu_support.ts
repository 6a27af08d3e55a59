/** Shared by the WebGPU test files: whether there is an adapter to test on. */

/** Why there is no WebGPU adapter to test on, or undefined when there is one. */
export async function noAdapter(): Promise<string | undefined> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return "no navigator.gpu";
  try {
    return (await gpu.requestAdapter()) ? undefined : "no WebGPU adapter";
  } catch (err) {
    return `requestAdapter failed: ${err}`;
  }
}

/**
 * A test that needs the webgpu backend: ignored, with the reason in its name, when `skip` (the
 * result of {@link noAdapter}) says there is no adapter.
 */
export function gpuTest(skip: string | undefined, name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: skip ? `${name} (ignored: ${skip})` : name,
    ignore: skip !== undefined,
    // tfjs-webgpu leaves buffer mappings and queue callbacks in flight between tests.
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });
}
