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
