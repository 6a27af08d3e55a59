/**
 * Checking a settings object against a table of its fields: each field a number that passes its
 * check, none missing, none unknown. The training and fine-tuning configs share it.
 *
 * @module
 */

/** A field's check and the allowed range as the error message says it (e.g. "an integer ≥ 1"). */
export type FieldRule = [check: (v: number) => boolean, range: string];

/**
 * Throws `fail(message)` for the first problem with `config` against `fields`: not an object, an
 * unknown field, or a field that is missing, not a number, or out of its range.
 *
 * @example
 * ```ts
 * import { checkFields } from "./settings.ts";
 *
 * const fields = { steps: [(v: number) => Number.isInteger(v) && v >= 1, "an integer ≥ 1"] } as const;
 * checkFields({ steps: 10 }, fields, (m) => new RangeError(m)); // passes
 * ```
 */
export function checkFields(
  config: unknown,
  fields: Readonly<Record<string, FieldRule>>,
  fail: (message: string) => Error,
): void {
  if (typeof config !== "object" || config === null) {
    throw fail(`expected an object, got ${JSON.stringify(config)}`);
  }
  for (const key of Object.keys(config)) {
    if (!(key in fields)) throw fail(`unknown field "${key}"`);
  }
  for (const [key, [ok, range]] of Object.entries(fields)) {
    const v = (config as Record<string, unknown>)[key];
    if (typeof v !== "number" || !ok(v)) {
      throw fail(`${key} must be ${range}, got ${JSON.stringify(v) ?? v}`);
    }
  }
}
