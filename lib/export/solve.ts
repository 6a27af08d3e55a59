/**
 * A small dense linear solver for the GPT-Neo export (lib/export/tensors.ts), which needs the
 * shift Δβ of ln_1's bias with Δβ·W_q = b_q. Gaussian elimination with partial pivoting, in
 * float64: at each column the row with the largest |entry| becomes the pivot row, which keeps
 * every multiplier at most 1 in size.
 *
 * @module
 */

/** Thrown by {@link solveLinear} when the matrix is singular (to working precision). */
export class SingularMatrixError extends Error {
  /** The elimination step (column) that found no usable pivot. */
  readonly column: number;

  /**
   * Creates the error.
   * @param column The column without a pivot.
   * @param pivot The largest |entry| left in that column.
   * @param threshold What a pivot had to exceed.
   */
  constructor(column: number, pivot: number, threshold: number) {
    super(
      `singular matrix: no pivot in column ${column} (largest |entry| ${pivot.toExponential(3)}, ` +
        `needed > ${threshold.toExponential(3)})`,
    );
    this.name = "SingularMatrixError";
    this.column = column;
  }
}

/**
 * Solves A x = b for x.
 *
 * A pivot counts as zero when it is at most `n · ε · max|A|` (ε = 2⁻⁵², float64's machine
 * epsilon): below that, rounding alone could have produced it, and the solution would be noise.
 *
 * @param a The n × n matrix, row-major (n² values); not modified.
 * @param b The right-hand side (n values); not modified.
 * @returns x (n values), in float64.
 * @throws {SingularMatrixError} When A is singular to working precision.
 * @throws {Error} When the lengths do not fit.
 */
export function solveLinear(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const n = b.length;
  if (a.length !== n * n) {
    throw new Error(`solveLinear: A has ${a.length} entries, expected ${n}² = ${n * n}`);
  }
  const m = Float64Array.from(a), x = Float64Array.from(b);
  let scale = 0;
  for (let i = 0; i < m.length; i++) scale = Math.max(scale, Math.abs(m[i]));
  const threshold = n * Number.EPSILON * scale;
  for (let col = 0; col < n; col++) {
    let pivotRow = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(m[r * n + col]) > Math.abs(m[pivotRow * n + col])) pivotRow = r;
    }
    const pivot = m[pivotRow * n + col];
    if (!(Math.abs(pivot) > threshold)) {
      throw new SingularMatrixError(col, Math.abs(pivot), threshold);
    }
    if (pivotRow !== col) {
      for (let c = col; c < n; c++) {
        const t = m[col * n + c];
        m[col * n + c] = m[pivotRow * n + c];
        m[pivotRow * n + c] = t;
      }
      const t = x[col];
      x[col] = x[pivotRow];
      x[pivotRow] = t;
    }
    for (let r = col + 1; r < n; r++) {
      const f = m[r * n + col] / pivot;
      if (f === 0) continue;
      for (let c = col; c < n; c++) m[r * n + c] -= f * m[col * n + c];
      x[r] -= f * x[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) { // back substitution on the upper triangle
    let s = x[r];
    for (let c = r + 1; c < n; c++) s -= m[r * n + c] * x[c];
    x[r] = s / m[r * n + r];
  }
  return x;
}
