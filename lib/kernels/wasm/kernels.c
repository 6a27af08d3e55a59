// Fused causal self-attention for the CPU path, compiled to WebAssembly with 128-bit SIMD.
//
// Build: deno task build:wasm (clang --target=wasm32 -msimd128 -O3, no libc). The result is
// embedded in kernels_wasm.ts; tests check that it was built from this exact source.
//
// Layout: qkv is the output of the attention input projection, [B, T, 3C] row-major with
// C = H·D: for token (b, t) the query of head h is qkv[(b·T + t)·3C + h·D + d], its key is at
// offset C, its value at 2C. The output y is [B, T, C] with head h in columns h·D .. h·D + D.
// Only keys j ≤ i are ever visited: the causal mask is the loop bound.

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

typedef unsigned int u32;

// exp(x) for float, accurate to ~2 ulp on the range softmax uses (x ≤ 0), without libc:
// x = n·ln2 + r with |r| ≤ ln2/2, exp(r) by a degree-6 polynomial, 2^n by building the exponent.
static inline float exp_f32(float x) {
  if (x < -87.0f) return 0.0f;
  if (x > 88.0f) x = 88.0f;
  const float log2e = 1.4426950408889634f, ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
  float fn = __builtin_floorf(x * log2e + 0.5f);
  float r = (x - fn * ln2_hi) - fn * ln2_lo;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * 0.0013888889f)))));
  int n = (int)fn;
  union { u32 i; float f; } scale = { (u32)(n + 127) << 23 };
  return p * scale.f;
}

static inline float log_f32(float x) {
  // Natural log for x ≥ 1 (a softmax denominator): x = m·2^e with m in [1, 2), then
  // log(m) = 2·atanh((m − 1)/(m + 1)) as an odd series, accurate to ~1e-7.
  union { float f; u32 i; } u = { x };
  int e = (int)((u.i >> 23) & 0xff) - 127;
  u.i = (u.i & 0x007fffff) | 0x3f800000;
  float m = u.f;
  if (m > 1.41421356f) { m *= 0.5f; e += 1; }
  float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  float series = s * (2.0f + s2 * (0.6666667f + s2 * (0.4f + s2 * (0.28571429f + s2 * (0.22222222f + s2 * 0.18181818f)))));
  return series + (float)e * 0.6931471805599453f;
}

static inline float dot(const float* a, const float* b, int d) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  int c = 0;
  for (; c + 4 <= d; c += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + c), wasm_v128_load(b + c)));
  float s = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) +
            wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
  for (; c < d; c++) s += a[c] * b[c];
  return s;
}

// out[0..d) += w · x[0..d)
static inline void axpy(float* out, float w, const float* x, int d) {
  v128_t vw = wasm_f32x4_splat(w);
  int c = 0;
  for (; c + 4 <= d; c += 4) wasm_v128_store(out + c, wasm_f32x4_add(wasm_v128_load(out + c), wasm_f32x4_mul(vw, wasm_v128_load(x + c))));
  for (; c < d; c++) out[c] += w * x[c];
}

// Forward: y = softmax(q·kᵀ·scale, causal)·v per head; lse[b, h, i] = log Σ_j exp(s_ij) for the
// backward. `scores` is scratch space of T floats.
EXPORT("attention_forward")
void attention_forward(const float* qkv, float* y, float* lse, float* scores, int B, int T, int H, int D, float scale) {
  const int C = H * D, row = 3 * C;
  for (int b = 0; b < B; b++) {
    const float* base = qkv + (long)b * T * row;
    for (int h = 0; h < H; h++) {
      for (int i = 0; i < T; i++) {
        const float* q = base + i * row + h * D;
        float max = -3.0e38f;
        for (int j = 0; j <= i; j++) {
          float s = dot(q, base + j * row + C + h * D, D) * scale;
          scores[j] = s;
          if (s > max) max = s;
        }
        float sum = 0.0f;
        for (int j = 0; j <= i; j++) {
          float e = exp_f32(scores[j] - max);
          scores[j] = e;
          sum += e;
        }
        float inv = 1.0f / sum;
        float* out = y + ((long)b * T + i) * C + h * D;
        for (int c = 0; c < D; c++) out[c] = 0.0f;
        for (int j = 0; j <= i; j++) axpy(out, scores[j] * inv, base + j * row + 2 * C + h * D, D);
        lse[((long)b * H + h) * T + i] = max + log_f32(sum);
      }
    }
  }
}

// Backward: given dy [B, T, C] and the forward's y and lse, accumulates dqkv [B, T, 3C]
// (zeroed here). Probabilities are recomputed as exp(s_ij − lse_i) rather than stored.
EXPORT("attention_backward")
void attention_backward(const float* qkv, const float* y, const float* dy, const float* lse, float* dqkv,
                        int B, int T, int H, int D, float scale) {
  const int C = H * D, row = 3 * C;
  for (long n = 0; n < (long)B * T * row; n++) dqkv[n] = 0.0f;
  for (int b = 0; b < B; b++) {
    const float* base = qkv + (long)b * T * row;
    float* dbase = dqkv + (long)b * T * row;
    for (int h = 0; h < H; h++) {
      for (int i = 0; i < T; i++) {
        const float* q = base + i * row + h * D;
        const float* dyi = dy + ((long)b * T + i) * C + h * D;
        const float* yi = y + ((long)b * T + i) * C + h * D;
        const float rowdot = dot(dyi, yi, D);  // Σ_j p_ij dP_ij
        const float l = lse[((long)b * H + h) * T + i];
        float* dq = dbase + i * row + h * D;
        for (int j = 0; j <= i; j++) {
          const float* k = base + j * row + C + h * D;
          const float* v = base + j * row + 2 * C + h * D;
          float p = exp_f32(dot(q, k, D) * scale - l);
          float dp = dot(dyi, v, D);
          float ds = p * (dp - rowdot) * scale;
          axpy(dq, ds, k, D);
          axpy(dbase + j * row + C + h * D, ds, q, D);
          axpy(dbase + j * row + 2 * C + h * D, p, dyi, D);
        }
      }
    }
  }
}

// GELU, tanh approximation: y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). The forward also
// stores tanh(·) per element for the backward. tanh(u) = 1 − 2/(exp(2u) + 1).
static inline float tanh_f32(float u) {
  if (u > 10.0f) return 1.0f;
  if (u < -10.0f) return -1.0f;
  return 1.0f - 2.0f / (exp_f32(2.0f * u) + 1.0f);
}

EXPORT("gelu_forward")
void gelu_forward(const float* x, float* y, float* th, int n) {
  const float c = 0.7978845608028654f;
  for (int i = 0; i < n; i++) {
    float v = x[i];
    float t = tanh_f32(c * (v + 0.044715f * v * v * v));
    th[i] = t;
    y[i] = 0.5f * v * (1.0f + t);
  }
}

EXPORT("gelu_backward")
void gelu_backward(const float* x, const float* th, const float* dy, float* dx, int n) {
  const float c = 0.7978845608028654f;
  for (int i = 0; i < n; i++) {
    float v = x[i], t = th[i];
    float du = c * (1.0f + 3.0f * 0.044715f * v * v);
    dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
  }
}
