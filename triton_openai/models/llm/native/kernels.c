/* CPU kernels of the torch engine's decoder: block-quantized matrix products and paged attention.
 *
 * Built once per machine by triton_openai/models/llm/native/compile.py (gcc -O3 -fopenmp, baseline x86-64), loaded
 * with ctypes. Each SIMD routine is compiled for its instruction set with a target attribute and
 * chosen at run time (__builtin_cpu_supports), so one library runs on any x86-64 CPU.
 *
 * Weights keep the GGUF's own blocks of 32 (repacked by triton_openai/models/llm/quant.py):
 *   Q4_1  w = d*q + m, q in 0..15   (Q4_0 is Q4_1 with m = -8d)
 *   Q8_0  w = d*q,     q in -127..127
 * Each group of 8 output rows keeps its blocks interleaved, block by block: [N/8][K/32][8][bytes],
 * so that the 8 rows a tile multiplies are one stream of memory (rows past the last multiple of 8
 * follow as they are, [N%8][K/32][bytes]). Scales d and minimums m are [N][K/32] floats, and the
 * same by groups of 8 rows, [N/8][K/32][8].
 * Activations are quantized per block of 32 to int8 with a scale (as llama.cpp's Q8 does), plus
 * each block's exact float sum for Q4_1's m term. Products accumulate in int32 per block, then in
 * float; threads (OpenMP, the same libgomp torch loaded) split the output rows.
 */

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QK 32
/* Elementwise and row-wise steps run on several threads only from this many elements on: below
 * it, waking a thread team costs more than the work (and a team waits at its barrier for any
 * thread that another process has taken the core from). */
#define PARALLEL_WORK 262144

/* ---------------------------------------------------------------- activation quantization */

/* Called by every thread of a team (or by one thread outside any): the rows' blocks are shared out. */
static void quantize_rows(const float *x, int64_t M, int64_t K, int wide, void *xq, float *xd, float *xs) {
    const int64_t nb = K / QK;
    const float top = wide ? 32767.0f : 127.0f;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < M * nb; r++) {
        const float *src = x + (r / nb) * K + (r % nb) * QK;
        float amax = 0.0f, sum = 0.0f;
        for (int i = 0; i < QK; i++) {
            const float a = fabsf(src[i]);
            amax = a > amax ? a : amax;
            sum += src[i];
        }
        const float d = amax / top;
        const float id = d > 0.0f ? 1.0f / d : 0.0f;
        if (wide) {
            int16_t *dst = (int16_t *)xq + r * QK;
            for (int i = 0; i < QK; i++) dst[i] = (int16_t)nearbyintf(src[i] * id);
        } else {
            int8_t *dst = (int8_t *)xq + r * QK;
            for (int i = 0; i < QK; i++) dst[i] = (int8_t)nearbyintf(src[i] * id);
        }
        xd[r] = d;
        xs[r] = sum;
    }
}

/* ------------------------------------------------------------------------ block products
 *
 * Every path computes each output in the same order, so that a token's result never depends on
 * what else shares its batch (or on chunking, or on the prefix cache):
 *     acc = 0; macc = 0
 *     for each block b:  S = sum of the 32 integer products (exact)
 *                        acc  = fma((float)S, wd[b] * xd[b], acc)
 *                        macc = fma(wm[b], xs[b], macc)          (Q4_1 only)
 *     y = acc + macc
 * The vector tiles run this for 8 outputs at once, one per lane: either 8 weight rows against
 * one activation row (few rows: decode), or one weight row against 8 activation rows (many).
 */

/* Lane r: the sum of the 8 lanes of p[r]. */
__attribute__((target("avx2,fma"))) static inline __m256i hsum8x8(const __m256i *p) {
    const __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    const __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* 32 unsigned nibbles of a Q4 block, in element order (low nibbles are elements 0..15). */
__attribute__((target("avx2,fma"))) static inline __m256i unpack_q4(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* Integer products summed into 8 int32 lanes: unsigned x signed bytes (by fours), or signed
 * 16-bit pairs of two halves (lo, hi) of a block (by twos, then the halves added). */
__attribute__((target("avx2,fma"))) static inline __m256i avx2_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

__attribute__((target("avx2,fma,avx512vl,avx512vnni"))) static inline __m256i vnni_u8s8(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

__attribute__((target("avx2,fma"))) static inline __m256i avx2_s16(__m256i a, __m256i x, __m256i b, __m256i y) {
    return _mm256_add_epi32(_mm256_madd_epi16(a, x), _mm256_madd_epi16(b, y));
}

__attribute__((target("avx2,fma,avx512vl,avx512vnni"))) static inline __m256i vnni_s16(__m256i a, __m256i x, __m256i b,
                                                                                       __m256i y) {
    return _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), a, x), b, y);
}

/* Activations: A8 (int8, a block in one vector) or A16 (int16, a block in two). */
#define A8_BYTES 1
#define A8_LOAD(x, ptr) const __m256i x = _mm256_loadu_si256((const __m256i *)(ptr))
#define A16_BYTES 2
#define A16_LOAD(x, ptr)                                                     \
    const __m256i x##lo = _mm256_loadu_si256((const __m256i *)(ptr));       \
    const __m256i x##hi = _mm256_loadu_si256((const __m256i *)(ptr) + 1)

/* Weight blocks as each activation width needs them (W), and W times a block of activations x.
 * With A8, Q8_0 multiplies signed by signed as |w| times x carrying w's sign. */
#define Q4_BYTES 16
#define Q8_BYTES 32
#define Q4_A8_PREP(p, j) const __m256i w##j = unpack_q4(p)
#define Q4_A8_PRODUCT(ISA, j, x) ISA##_u8s8(w##j, x)
#define Q8_A8_PREP(p, j)                                             \
    const __m256i w##j = _mm256_loadu_si256((const __m256i *)(p)); \
    const __m256i a##j = _mm256_sign_epi8(w##j, w##j)
#define Q8_A8_PRODUCT(ISA, j, x) ISA##_u8s8(a##j, _mm256_sign_epi8(x, w##j))
#define Q4_A16_PREP(p, j)                                                                               \
    const __m128i r##j = _mm_loadu_si128((const __m128i *)(p));                                        \
    const __m256i l##j = _mm256_cvtepu8_epi16(_mm_and_si128(r##j, _mm_set1_epi8(0x0F)));               \
    const __m256i h##j = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(r##j, 4), _mm_set1_epi8(0x0F)))
#define Q4_A16_PRODUCT(ISA, j, x) ISA##_s16(l##j, x##lo, h##j, x##hi)
#define Q8_A16_PREP(p, j)                                                       \
    const __m256i l##j = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p))); \
    const __m256i h##j = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p) + 1))
#define Q8_A16_PRODUCT(ISA, j, x) ISA##_s16(l##j, x##lo, h##j, x##hi)

#define EIGHT(M, ...) M(0, __VA_ARGS__) M(1, __VA_ARGS__) M(2, __VA_ARGS__) M(3, __VA_ARGS__) \
    M(4, __VA_ARGS__) M(5, __VA_ARGS__) M(6, __VA_ARGS__) M(7, __VA_ARGS__)
#define WPREP(j, F, A, qs, b) F##_##A##_PREP((qs) + ((b) * 8 + (j)) * F##_BYTES, j);
#define WPROD(j, F, A, ISA, p) p[j] = F##_##A##_PRODUCT(ISA, j, x);

/* A group of 8 weight rows (qs: its interleaved blocks) x R <= 4 activation rows; wdT/wmT are
 * the 8 rows' scales and minimums transposed to [blocks][8]. Writes y[r * ldy + 0..7]. */
#define WTILE(NAME, TARGET, F, A, ISA, MIN)                                                                \
    __attribute__((target(TARGET))) static void NAME(const uint8_t *qs, const float *wdT,                   \
                                                     const float *wmT, const void *xq, int64_t K,             \
                                                     const float *xd, const float *xs, int64_t nb, int R,     \
                                                     float *y, int64_t ldy) {                                 \
        __m256 acc[4], macc[4];                                                                             \
        for (int r = 0; r < 4; r++) acc[r] = macc[r] = _mm256_setzero_ps();                                \
        for (int64_t b = 0; b < nb; b++) {                                                                  \
            EIGHT(WPREP, F, A, qs, b)                                                                       \
            const __m256 wd = _mm256_loadu_ps(wdT + b * 8);                                                 \
            for (int r = 0; r < R; r++) {                                                                   \
                A##_LOAD(x, (const char *)xq + (r * K + b * QK) * A##_BYTES);                               \
                __m256i p[8];                                                                               \
                EIGHT(WPROD, F, A, ISA, p)                                                                  \
                const __m256 scale = _mm256_mul_ps(wd, _mm256_set1_ps(xd[r * nb + b]));                    \
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8(p)), scale, acc[r]);                    \
                if (MIN)                                                                                    \
                    macc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(wmT + b * 8), _mm256_set1_ps(xs[r * nb + b]), macc[r]); \
            }                                                                                               \
        }                                                                                                   \
        for (int r = 0; r < R; r++) _mm256_storeu_ps(y + r * ldy, _mm256_add_ps(acc[r], macc[r]));        \
    }

#define APROD(j, F, A, ISA, xq, K, b, p, q)                                             \
    {                                                                                    \
        A##_LOAD(x, (const char *)(xq) + ((j) * (K) + (b) * QK) * A##_BYTES);             \
        p[j] = F##_##A##_PRODUCT(ISA, 0, x);                                             \
        q[j] = F##_##A##_PRODUCT(ISA, 1, x);                                             \
    }

/* Two weight rows (n, n + 1 of a group of 8: qs is row n's first block, whose next blocks are 8
 * blocks apart, and row n + 1's follows it) x 8 activation rows, each activation block loaded once
 * for both; xdT/xsT are the rows' scales and sums transposed to [blocks][8].
 * Writes out[0..7] for row n and out[8..15] for row n + 1. */
#define ATILE(NAME, TARGET, F, A, ISA, MIN)                                                                \
    __attribute__((target(TARGET))) static void NAME(const uint8_t *qs, const float *wd,                    \
                                                     const float *wm, int64_t nb, const void *xq, int64_t K,  \
                                                     const float *xdT, const float *xsT, float *out) {        \
        __m256 acc0 = _mm256_setzero_ps(), macc0 = _mm256_setzero_ps();                                     \
        __m256 acc1 = _mm256_setzero_ps(), macc1 = _mm256_setzero_ps();                                     \
        for (int64_t b = 0; b < nb; b++) {                                                                  \
            F##_##A##_PREP(qs + b * 8 * F##_BYTES, 0);                                                      \
            F##_##A##_PREP(qs + (b * 8 + 1) * F##_BYTES, 1);                                                \
            __m256i p[8], q[8];                                                                             \
            EIGHT(APROD, F, A, ISA, xq, K, b, p, q)                                                         \
            const __m256 xd = _mm256_loadu_ps(xdT + b * 8);                                                 \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8(p)), _mm256_mul_ps(_mm256_set1_ps(wd[b]), xd), acc0); \
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum8x8(q)), _mm256_mul_ps(_mm256_set1_ps(wd[nb + b]), xd), acc1); \
            if (MIN) {                                                                                      \
                const __m256 xs = _mm256_loadu_ps(xsT + b * 8);                                             \
                macc0 = _mm256_fmadd_ps(_mm256_set1_ps(wm[b]), xs, macc0);                                  \
                macc1 = _mm256_fmadd_ps(_mm256_set1_ps(wm[nb + b]), xs, macc1);                             \
            }                                                                                               \
        }                                                                                                   \
        _mm256_storeu_ps(out, _mm256_add_ps(acc0, macc0));                                                  \
        _mm256_storeu_ps(out + 8, _mm256_add_ps(acc1, macc1));                                              \
    }

#define AVX2 "avx2,fma"
#define VNNI "avx2,fma,avx512vl,avx512vnni"
#define TILES(F, A, MIN)                                        \
    WTILE(F##_##A##_wtile_avx2, AVX2, F, A, avx2, MIN)          \
    WTILE(F##_##A##_wtile_vnni, VNNI, F, A, vnni, MIN)          \
    ATILE(F##_##A##_atile_avx2, AVX2, F, A, avx2, MIN)          \
    ATILE(F##_##A##_atile_vnni, VNNI, F, A, vnni, MIN)
TILES(Q4, A8, 1)
TILES(Q8, A8, 0)
TILES(Q4, A16, 1)
TILES(Q8, A16, 0)

/* The same order in plain code, one output at a time (CPUs without AVX2, and weight rows beyond
 * the last multiple of 8); built twice so that fmaf is an instruction where the CPU has one. qs is
 * the row's first block, `step` the bytes from one of its blocks to the next. */
#define CANONICAL(NAME, ATTRIBUTE)                                                                          \
    ATTRIBUTE static float NAME(const uint8_t *qs, int64_t step, const float *wd, const float *wm,            \
                                const void *x, const float *xd, const float *xs, int64_t nb, int q4,          \
                                int wide) {                                                                   \
        float acc = 0.0f, macc = 0.0f;                                                                        \
        for (int64_t b = 0; b < nb; b++) {                                                                    \
            int32_t S = 0;                                                                                    \
            for (int j = 0; j < QK; j++) {                                                                    \
                const int32_t w = q4 ? (j < 16 ? qs[b * step + j] & 0x0F : qs[b * step + j - 16] >> 4)       \
                                     : ((const int8_t *)qs)[b * step + j];                                    \
                S += w * (wide ? ((const int16_t *)x)[b * QK + j] : ((const int8_t *)x)[b * QK + j]);         \
            }                                                                                                 \
            const float scale = wd[b] * xd[b];                                                                \
            acc = fmaf((float)S, scale, acc);                                                                 \
            if (q4) macc = fmaf(wm[b], xs[b], macc);                                                          \
        }                                                                                                     \
        return acc + macc;                                                                                    \
    }

CANONICAL(canonical_fma, __attribute__((target("avx2,fma"))))
CANONICAL(canonical_portable, )

/* ------------------------------------------------------------------------------- dispatch */

/* 2: AVX-512 VNNI, 1: AVX2, 0: portable; `force` below 0 picks the best the CPU has. */
static int level(int force) {
    if (force >= 0) return force;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

int tok_simd_level(void) { return level(-1); }

/* Scratch for the quantized activations, grown as needed (one engine thread calls these). */
typedef struct {
    void *xq;
    float *xd, *xs, *xdT, *xsT;
    int64_t capacity;
} scratch_t;

static __thread scratch_t scratch;

static int reserve(int64_t M, int64_t K) {
    const int64_t need = M * K;
    if (need <= scratch.capacity) return 0;
    free(scratch.xq);
    free(scratch.xd);
    free(scratch.xs);
    free(scratch.xdT);
    free(scratch.xsT);
    scratch.xq = malloc(2 * need);
    scratch.xd = malloc(sizeof(float) * need / QK);
    scratch.xs = malloc(sizeof(float) * need / QK);
    scratch.xdT = malloc(sizeof(float) * need / QK);
    scratch.xsT = malloc(sizeof(float) * need / QK);
    scratch.capacity = scratch.xq && scratch.xd && scratch.xs && scratch.xdT && scratch.xsT ? need : 0;
    return scratch.capacity ? 0 : -1;
}

/* [M, nb] -> [M / 8][nb][8]: the scales of each group of 8 rows, block by block. */
static void transpose8(const float *src, int64_t M, int64_t nb, float *dst) {
    for (int64_t g = 0; g < M / 8; g++)
        for (int64_t b = 0; b < nb; b++)
            for (int r = 0; r < 8; r++) dst[(g * nb + b) * 8 + r] = src[(g * 8 + r) * nb + b];
}

typedef void (*wtile_fn)(const uint8_t *, const float *, const float *, const void *, int64_t, const float *,
                         const float *, int64_t, int, float *, int64_t);
typedef void (*atile_fn)(const uint8_t *, const float *, const float *, int64_t, const void *, int64_t, const float *,
                         const float *, float *);

/* [q4][wide][vnni] */
static const wtile_fn WTILES[2][2][2] = {
    {{Q8_A8_wtile_avx2, Q8_A8_wtile_vnni}, {Q8_A16_wtile_avx2, Q8_A16_wtile_vnni}},
    {{Q4_A8_wtile_avx2, Q4_A8_wtile_vnni}, {Q4_A16_wtile_avx2, Q4_A16_wtile_vnni}},
};
static const atile_fn ATILES[2][2][2] = {
    {{Q8_A8_atile_avx2, Q8_A8_atile_vnni}, {Q8_A16_atile_avx2, Q8_A16_atile_vnni}},
    {{Q4_A8_atile_avx2, Q4_A8_atile_vnni}, {Q4_A16_atile_avx2, Q4_A16_atile_vnni}},
};

/* Row n's first block in interleaved blocks (the layout at the top of this file): inside its group
 * of 8, its next block is 8 blocks on; past the last group, the next one. */
static inline const uint8_t *row_blocks(const uint8_t *qs, int64_t n, int64_t N, int64_t row_bytes,
                                        int64_t block_bytes) {
    return n < N / 8 * 8 ? qs + (n & ~7) * row_bytes + (n & 7) * block_bytes : qs + n * row_bytes;
}

/* y[M, N] (row stride ldy) = x[M, K] @ W^T. W: blocks qs [N, K/32, bytes] (interleaved by groups of
 * 8 rows, as the top of this file says) with scales wd and
 * minimums wm [N, K/32] (wm NULL for Q8_0), and the same transposed by groups of 8 rows, wdT and
 * wmT [N/8][K/32][8]. Activations are quantized to int16 (`wide`) or int8 per block. Rows of x
 * are done 8 at a time where there are 8 (ATILE, two weight rows at a time), the rest against 8
 * weight rows at a time (WTILE), weight rows past a multiple of 8 in plain code. */
/* The matmul below for the threads of an enclosing team, every one of which calls it: `s` is scratch
 * reserved for M x K beforehand (the calling thread's), lv the SIMD level. Ends at a barrier. */
static void matmul_team(const float *x, int64_t M, int64_t K, const uint8_t *qs, int q4, const float *wd,
                        const float *wm, const float *wdT, const float *wmT, int64_t N, float *y, int64_t ldy,
                        int wide, int lv, const scratch_t *s) {
    const int64_t block_bytes = q4 ? Q4_BYTES : Q8_BYTES, nb = K / QK, row_bytes = nb * block_bytes;
    const int64_t abytes = wide ? 2 : 1;
    quantize_rows(x, M, K, wide, s->xq, s->xd, s->xs);
    const int64_t rows8 = lv ? M / 8 * 8 : 0, N8 = lv ? N / 8 * 8 : 0;
    if (rows8) {
#pragma omp single
        {
            transpose8(s->xd, rows8, nb, s->xdT);
            transpose8(s->xs, rows8, nb, s->xsT);
        }
    }
    const wtile_fn wtile = WTILES[q4][wide != 0][lv == 2];
    const atile_fn atile = ATILES[q4][wide != 0][lv == 2];
    const char *xq = s->xq;
    const float *xd = s->xd, *xs = s->xs, *xdT = s->xdT, *xsT = s->xsT;
    const float *wm_or_wd = q4 ? wm : wd, *wmT_or_wdT = q4 ? wmT : wdT; /* unread for Q8_0 */
    {
        if (rows8) {
#pragma omp for schedule(static) nowait
            for (int64_t n = 0; n < N8; n += 2) {
                float out[16];
                for (int64_t m = 0; m < rows8; m += 8) {
                    atile(row_blocks(qs, n, N, row_bytes, block_bytes), wd + n * nb, wm_or_wd + n * nb, nb,
                          xq + m * K * abytes, K, xdT + m * nb, xsT + m * nb, out);
                    for (int r = 0; r < 8; r++) {
                        y[(m + r) * ldy + n] = out[r];
                        y[(m + r) * ldy + n + 1] = out[8 + r];
                    }
                }
            }
        }
        if (rows8 < M) {
#pragma omp for schedule(static) nowait
            for (int64_t g = 0; g < N8 / 8; g++) {
                for (int64_t m = rows8; m < M; m += 4) {
                    const int R = M - m < 4 ? (int)(M - m) : 4;
                    wtile(qs + g * 8 * row_bytes, wdT + g * nb * 8, wmT_or_wdT + g * nb * 8, xq + m * K * abytes, K,
                          xd + m * nb, xs + m * nb, nb, R, y + m * ldy + g * 8, ldy);
                }
            }
        }
#pragma omp for schedule(static)
        for (int64_t n = N8; n < N; n++) {
            /* a row of an interleaved group (without AVX2, every row is done here), or one past them */
            const uint8_t *row = row_blocks(qs, n, N, row_bytes, block_bytes);
            const int64_t step = n < N / 8 * 8 ? 8 * block_bytes : block_bytes;
            for (int64_t m = 0; m < M; m++) {
                const void *xm = xq + m * K * abytes;
                y[m * ldy + n] = lv ? canonical_fma(row, step, wd + n * nb, wm_or_wd + n * nb, xm, xd + m * nb,
                                                    xs + m * nb, nb, q4, wide)
                                    : canonical_portable(row, step, wd + n * nb, wm_or_wd + n * nb, xm, xd + m * nb,
                                                         xs + m * nb, nb, q4, wide);
            }
        }
    }
}

static int matmul(const float *x, int64_t M, int64_t K, const uint8_t *qs, int q4, const float *wd, const float *wm,
                  const float *wdT, const float *wmT, int64_t N, float *y, int64_t ldy, int wide, int force) {
    if (K % QK || reserve(M, K)) return -1;
    const int lv = level(force);
    const scratch_t *s = &scratch;
#pragma omp parallel
    matmul_team(x, M, K, qs, q4, wd, wm, wdT, wmT, N, y, ldy, wide, lv, s);
    return 0;
}

int tok_q4_1_matmul(const float *x, int64_t M, int64_t K, const uint8_t *qs, const float *wd, const float *wm,
                    const float *wdT, const float *wmT, int64_t N, float *y, int64_t ldy, int wide, int force) {
    return matmul(x, M, K, qs, 1, wd, wm, wdT, wmT, N, y, ldy, wide, force);
}

int tok_q8_0_matmul(const float *x, int64_t M, int64_t K, const int8_t *qs, const float *wd, const float *wdT,
                    int64_t N, float *y, int64_t ldy, int wide, int force) {
    return matmul(x, M, K, (const uint8_t *)qs, 0, wd, NULL, wdT, NULL, N, y, ldy, wide, force);
}

/* ------------------------------------------------------------------------ paged attention */

/* e^x over the floats' range (softmax after subtracting the max, SiLU): 2^(x log2 e) split into an
 * integer and a fraction in [-0.5, 0.5]; degree-6 Taylor polynomial of 2^f, relative error about
 * 1e-7. Plain code so that the loops calling it vectorize. */
static inline float exp_any(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float z = x * 1.4426950408889634f;
    const float n = nearbyintf(z);
    const float f = (z - n) * 0.6931471805599453f;
    const float p =
        1.0f + f * (1.0f + f * (0.5f + f * (0.16666667f + f * (0.041666668f + f * (0.008333334f + f * 0.0013888889f)))));
    union {
        int32_t i;
        float f;
    } bits = {.i = ((int32_t)n + 127) << 23};
    return p * bits.f;
}

/* The body for each cached key (or value) j < L of the task's sequence, `vec` its head h's d
 * floats: the sequence's table walked block by block. */
#define EACH_CACHED(cache, j, vec, ...)                                                                    \
    for (int64_t start_ = 0, b_ = 0; start_ < L; start_ += block, b_++) {                                \
        const float *restrict first_ = (cache) + (int64_t)table[b_] * block * row + h * d;              \
        const int64_t n_ = L - start_ < block ? L - start_ : block;                                      \
        for (int64_t o_ = 0; o_ < n_; o_++) {                                                            \
            const int64_t j = start_ + o_;                                                               \
            const float *restrict vec = first_ + o_ * row;                                               \
            __VA_ARGS__                                                                                  \
        }                                                                                                \
    }

/* Each (token, kv head) task: the scores of its g query heads against every key, block by block
 * of the sequence's table, their softmax, then the values weighed by them. */
#define ATTENTION(NAME, TARGET)                                                                            \
    __attribute__((target(TARGET))) static void NAME(                                                      \
        const float *q, const float *k_cache, const float *v_cache, const int32_t *tables, int64_t max_blocks, \
        const int32_t *seq_of, const int32_t *len_of, int64_t T, int64_t nh, int64_t kvh, int64_t d,          \
        int64_t block, float scale, float *out) {                                                           \
        const int64_t g = nh / kvh, row = kvh * d; /* floats from one cached token to the next */          \
        _Pragma("omp for schedule(dynamic)")                                                                \
        for (int64_t task = 0; task < T * kvh; task++) {                                                    \
            const int64_t t = task / kvh, h = task % kvh, L = len_of[t];                                    \
            const int32_t *table = tables + (int64_t)seq_of[t] * max_blocks;                                \
            float *restrict scores = malloc(sizeof(float) * g * (L > 0 ? L : 1));                            \
            if (!scores) continue;                                                                          \
            const float *restrict qh = q + (t * nh + h * g) * d;                                            \
            EACH_CACHED(k_cache, j, kj, for (int64_t i = 0; i < g; i++) {                                   \
                float s = 0.0f;                                                                             \
                _Pragma("omp simd reduction(+ : s)") for (int64_t c = 0; c < d; c++) s += qh[i * d + c] * kj[c]; \
                scores[i * L + j] = s * scale;                                                              \
            })                                                                                              \
            for (int64_t i = 0; i < g; i++) {                                                               \
                float *restrict sc = scores + i * L, mx = -INFINITY, sum = 0.0f;                            \
                _Pragma("omp simd reduction(max : mx)") for (int64_t j = 0; j < L; j++) mx = sc[j] > mx ? sc[j] : mx; \
                _Pragma("omp simd") for (int64_t j = 0; j < L; j++) sc[j] = exp_any(sc[j] - mx);           \
                _Pragma("omp simd reduction(+ : sum)") for (int64_t j = 0; j < L; j++) sum += sc[j];       \
                const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;                                           \
                for (int64_t j = 0; j < L; j++) sc[j] *= inv;                                               \
            }                                                                                               \
            float *restrict oh = out + (t * nh + h * g) * d;                                                \
            memset(oh, 0, sizeof(float) * g * d);                                                           \
            EACH_CACHED(v_cache, j, vj, for (int64_t i = 0; i < g; i++) {                                   \
                const float p = scores[i * L + j];                                                          \
                _Pragma("omp simd") for (int64_t c = 0; c < d; c++) oh[i * d + c] += p * vj[c];             \
            })                                                                                              \
            free(scores);                                                                                   \
        }                                                                                                   \
    }

ATTENTION(attention_avx512, "avx512f,avx2,fma")
ATTENTION(attention_avx2, "avx2,fma")
ATTENTION(attention_generic, "sse2")

/* out[T, nh, d] = softmax(q K^T * scale) V for each query token t over the first len_of[t] keys of
 * its sequence seq_of[t]; keys and values live in blocks of `block` tokens: cache [blocks, block,
 * kvh, d], the sequence's blocks listed in tables[seq, :max_blocks]. Query head i reads kv head
 * i / (nh / kvh) (grouped-query attention). */
/* The threads of a team share out the (token, kv head) pairs; ends at a barrier. */
static void paged_attention_team(const float *q, const float *k_cache, const float *v_cache, const int32_t *tables,
                                 int64_t max_blocks, const int32_t *seq_of, const int32_t *len_of, int64_t T,
                                 int64_t nh, int64_t kvh, int64_t d, int64_t block, float scale, float *out, int lv) {
    if (lv >= 1 && __builtin_cpu_supports("avx512f"))
        attention_avx512(q, k_cache, v_cache, tables, max_blocks, seq_of, len_of, T, nh, kvh, d, block, scale, out);
    else if (lv >= 1)
        attention_avx2(q, k_cache, v_cache, tables, max_blocks, seq_of, len_of, T, nh, kvh, d, block, scale, out);
    else
        attention_generic(q, k_cache, v_cache, tables, max_blocks, seq_of, len_of, T, nh, kvh, d, block, scale, out);
}

void tok_paged_attention(const float *q, const float *k_cache, const float *v_cache, const int32_t *tables,
                         int64_t max_blocks, const int32_t *seq_of, const int32_t *len_of, int64_t T, int64_t nh,
                         int64_t kvh, int64_t d, int64_t block, float scale, float *out, int force) {
    const int lv = level(force);
    __builtin_cpu_init();
    int64_t keys = 0;
    for (int64_t t = 0; t < T; t++) keys += len_of[t];
#pragma omp parallel if (keys * nh * d >= PARALLEL_WORK)
    paged_attention_team(q, k_cache, v_cache, tables, max_blocks, seq_of, len_of, T, nh, kvh, d, block, scale, out, lv);
}

/* ------------------------------------------------------------------- the layers' small steps */

#define ROWWISE(NAME, TARGET)                                                                               \
    /* residual (may be NULL): x += residual first. out = x / rms(x) * weight, row by row. */              \
    __attribute__((target(TARGET))) static void NAME##_rms_norm(float *x, const float *residual,            \
                                                                const float *weight, int64_t M, int64_t H,   \
                                                                float eps, float *out) {                     \
        _Pragma("omp for schedule(static)")                                                                 \
        for (int64_t m = 0; m < M; m++) {                                                                   \
            float *row = x + m * H;                                                                         \
            if (residual) {                                                                                 \
                const float *add = residual + m * H;                                                        \
                _Pragma("omp simd") for (int64_t i = 0; i < H; i++) row[i] += add[i];                       \
            }                                                                                               \
            float sum = 0.0f;                                                                               \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t i = 0; i < H; i++) sum += row[i] * row[i];  \
            const float inv = 1.0f / sqrtf(sum / (float)H + eps);                                           \
            float *o = out + m * H;                                                                         \
            _Pragma("omp simd") for (int64_t i = 0; i < H; i++) o[i] = row[i] * inv * weight[i];           \
        }                                                                                                   \
    }                                                                                                       \
    /* out[m, i] = silu(gate_up[m, i]) * gate_up[m, I + i] */                                               \
    __attribute__((target(TARGET))) static void NAME##_silu_mul(const float *gate_up, int64_t M, int64_t I,  \
                                                                float *out) {                                \
        _Pragma("omp for schedule(static)")                                                                 \
        for (int64_t m = 0; m < M; m++) {                                                                   \
            const float *g = gate_up + m * 2 * I, *u = g + I;                                               \
            float *o = out + m * I;                                                                         \
            _Pragma("omp simd") for (int64_t i = 0; i < I; i++) o[i] = g[i] / (1.0f + exp_any(-g[i])) * u[i]; \
        }                                                                                                   \
    }

ROWWISE(rw_avx512, "avx512f,avx2,fma")
ROWWISE(rw_avx2, "avx2,fma")
ROWWISE(rw_generic, "sse2")

static int rowwise_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

/* The row-wise steps for the threads of a team (rows shared out; each ends at a barrier). */
static void rms_norm_team(float *x, const float *residual, const float *weight, int64_t M, int64_t H, float eps,
                          float *out, int lv) {
    if (lv == 2)
        rw_avx512_rms_norm(x, residual, weight, M, H, eps, out);
    else if (lv == 1)
        rw_avx2_rms_norm(x, residual, weight, M, H, eps, out);
    else
        rw_generic_rms_norm(x, residual, weight, M, H, eps, out);
}

static void silu_mul_team(const float *gate_up, int64_t M, int64_t I, float *out, int lv) {
    if (lv == 2)
        rw_avx512_silu_mul(gate_up, M, I, out);
    else if (lv == 1)
        rw_avx2_silu_mul(gate_up, M, I, out);
    else
        rw_generic_silu_mul(gate_up, M, I, out);
}

void tok_rms_norm(float *x, const float *residual, const float *weight, int64_t M, int64_t H, float eps, float *out) {
    const int lv = rowwise_level();
#pragma omp parallel if (M * H >= PARALLEL_WORK)
    rms_norm_team(x, residual, weight, M, H, eps, out, lv);
}

void tok_silu_mul(const float *gate_up, int64_t M, int64_t I, float *out) {
    const int lv = rowwise_level();
#pragma omp parallel if (M * I >= PARALLEL_WORK)
    silu_mul_team(gate_up, M, I, out, lv);
}

/* The attention half of a layer, from the fused q/k/v product qkv [T, (nh + 2 kvh) * d]:
 * optional per-head RMSNorm of q and k (q_norm/k_norm [d], NULL: none), the rotary embedding in
 * Hugging Face's layout (cos/sin [positions, d], each head's halves rotating together), the step's
 * keys and values written into the paged cache at `slots`, then the paged attention into out
 * [T, nh, d]. qkv is modified in place. */
/* tok_attention_layer for the threads of a team; q: room for [T, nh, d]. Ends at a barrier. */
static void attention_layer_team(float *qkv, int64_t T, int64_t nh, int64_t kvh, int64_t d, const float *q_norm,
                                 const float *k_norm, float eps, const float *cos_table, const float *sin_table,
                                 const int64_t *positions, const int64_t *slots, float *k_cache, float *v_cache,
                                 const int32_t *tables, int64_t max_blocks, const int32_t *seq_of,
                                 const int32_t *len_of, int64_t block, float scale, float *q, float *out, int lv) {
    const int64_t width = (nh + 2 * kvh) * d, half = d / 2;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; t++) {
        float *row = qkv + t * width;
        const float *c = cos_table + positions[t] * d, *s = sin_table + positions[t] * d;
        for (int64_t h = 0; h < nh + kvh; h++) {
            float *x = row + h * d;
            const float *norm = h < nh ? q_norm : k_norm;
            if (norm) {
                float sum = 0.0f;
                for (int64_t i = 0; i < d; i++) sum += x[i] * x[i];
                const float inv = 1.0f / sqrtf(sum / (float)d + eps);
                for (int64_t i = 0; i < d; i++) x[i] = x[i] * inv * norm[i];
            }
            for (int64_t i = 0; i < half; i++) {
                const float a = x[i], b = x[i + half];
                x[i] = a * c[i] - b * s[i];
                x[i + half] = b * c[i + half] + a * s[i + half];
            }
        }
        memcpy(k_cache + slots[t] * kvh * d, row + nh * d, sizeof(float) * kvh * d);
        memcpy(v_cache + slots[t] * kvh * d, row + (nh + kvh) * d, sizeof(float) * kvh * d);
        /* queries, [T, nh, d] with the row stride of qkv: copied out contiguous for the kernel */
        memcpy(q + t * nh * d, row, sizeof(float) * nh * d);
    }
    /* the barrier above: every key of this step is in the cache before any query reads them */
    paged_attention_team(q, k_cache, v_cache, tables, max_blocks, seq_of, len_of, T, nh, kvh, d, block, scale, out, lv);
}

/* The attention half of a layer, from the fused q/k/v product qkv [T, (nh + 2 kvh) * d]:
 * optional per-head RMSNorm of q and k (q_norm/k_norm [d], NULL: none), the rotary embedding in
 * Hugging Face's layout (cos/sin [positions, d], each head's halves rotating together), the step's
 * keys and values written into the paged cache at `slots`, then the paged attention into out
 * [T, nh, d]. qkv is modified in place. */
void tok_attention_layer(float *qkv, int64_t T, int64_t nh, int64_t kvh, int64_t d, const float *q_norm,
                         const float *k_norm, float eps, const float *cos_table, const float *sin_table,
                         const int64_t *positions, const int64_t *slots, float *k_cache, float *v_cache,
                         const int32_t *tables, int64_t max_blocks, const int32_t *seq_of, const int32_t *len_of,
                         int64_t block, float scale, float *out, int force) {
    const int lv = level(force);
    float *q = malloc(sizeof(float) * T * nh * d);
    if (!q) return;
    int64_t keys = 0;
    for (int64_t t = 0; t < T; t++) keys += len_of[t];
#pragma omp parallel if (keys * nh * d >= PARALLEL_WORK || T * (nh + 2 * kvh) * d >= PARALLEL_WORK)
    attention_layer_team(qkv, T, nh, kvh, d, q_norm, k_norm, eps, cos_table, sin_table, positions, slots, k_cache,
                         v_cache, tables, max_blocks, seq_of, len_of, block, scale, q, out, lv);
    free(q);
}

/* ------------------------------------------------------------------ all the layers of a step */

/* One linear layer in blocks: Q4_1 (q4 = 1) or Q8_0, as the matmul above takes them, and its
 * optional bias [N]. */
typedef struct {
    int32_t q4;
    int64_t N, K;
    const uint8_t *qs;
    const float *d, *m, *dT, *mT, *bias;
} tok_linear;

typedef struct {
    const float *input_norm, *post_norm, *q_norm, *k_norm; /* q/k norms NULL when absent */
    tok_linear qkv, o, gate_up, down;
} tok_layer;

/* A linear layer for the threads of a team (scratch reserved for its M x K); ends at a barrier. */
static void linear_team(const tok_linear *w, const float *x, int64_t M, float *y, int wide, int lv,
                        const scratch_t *s) {
    matmul_team(x, M, w->K, w->qs, w->q4, w->d, w->m, w->dT, w->mT, w->N, y, w->N, wide, lv, s);
    if (w->bias) {
#pragma omp for schedule(static)
        for (int64_t r = 0; r < M; r++)
            for (int64_t n = 0; n < w->N; n++) y[r * w->N + n] += w->bias[n];
    }
}

/* Every decoder layer of one step for the T tokens of x [T, H] (updated in place: x leaves as
 * the last layer's residual stream, before the final norm), the same steps as the decoder's
 * per-layer path: norm, q/k/v, attention over the paged cache (kv: [layers][2][blocks][block]
 * [kvh][d]), o, residual + norm, gate/up, SiLU gate, down, residual. One call instead of some
 * two hundred from Python, and one thread team for all of it: the threads meet at a barrier
 * after each step instead of starting a team for each (a few hundred per token). Every output is
 * computed by one thread in the same order as the per-layer path, so the result is the same bit
 * for bit. Returns 0, or -1 when memory ran out or a shape does not fit. */
int tok_decoder_layers(const tok_layer *layers, int64_t n_layers, float *x, int64_t T, int64_t H, int64_t nh,
                       int64_t kvh, int64_t d, int64_t I, float eps, const float *cos_table, const float *sin_table,
                       const int64_t *positions, const int64_t *slots, float *kv, int64_t num_blocks, int64_t block,
                       const int32_t *tables, int64_t max_blocks, const int32_t *seq_of, const int32_t *len_of,
                       float scale, int wide, int force) {
    const int64_t qkv_width = (nh + 2 * kvh) * d, per_cache = num_blocks * block * kvh * d;
    int64_t widest = 0; /* the largest K of any linear layer: the scratch of all of them */
    for (int64_t l = 0; l < n_layers; l++) {
        const tok_linear *all[4] = {&layers[l].qkv, &layers[l].o, &layers[l].gate_up, &layers[l].down};
        for (int i = 0; i < 4; i++) {
            if (all[i]->K % QK) return -1;
            widest = all[i]->K > widest ? all[i]->K : widest;
        }
    }
    if (reserve(T, widest)) return -1;
    const scratch_t *s = &scratch;
    const int lv = level(force), rw = rowwise_level();
    float *h = malloc(sizeof(float) * T * (H > nh * d ? H : nh * d));
    float *qkv = malloc(sizeof(float) * T * qkv_width);
    float *q = malloc(sizeof(float) * T * nh * d);
    float *attended = malloc(sizeof(float) * T * nh * d);
    float *out = malloc(sizeof(float) * T * H);
    float *gate_up = malloc(sizeof(float) * T * 2 * I);
    float *act = malloc(sizeof(float) * T * I);
    const int rc = h && qkv && q && attended && out && gate_up && act ? 0 : -1;
    if (rc == 0 && n_layers) {
#pragma omp parallel
        {
            for (int64_t l = 0; l < n_layers; l++) {
                const tok_layer *layer = layers + l;
                float *keys = kv + (2 * l) * per_cache, *values = kv + (2 * l + 1) * per_cache;
                rms_norm_team(x, l ? out : NULL, layer->input_norm, T, H, eps, h, rw); /* x += the last MLP's output */
                linear_team(&layer->qkv, h, T, qkv, wide, lv, s);
                attention_layer_team(qkv, T, nh, kvh, d, layer->q_norm, layer->k_norm, eps, cos_table, sin_table,
                                     positions, slots, keys, values, tables, max_blocks, seq_of, len_of, block, scale,
                                     q, attended, lv);
                linear_team(&layer->o, attended, T, out, wide, lv, s);
                rms_norm_team(x, out, layer->post_norm, T, H, eps, h, rw); /* x += attention's output */
                linear_team(&layer->gate_up, h, T, gate_up, wide, lv, s);
                silu_mul_team(gate_up, T, I, act, rw);
                linear_team(&layer->down, act, T, out, wide, lv, s);
            }
#pragma omp for schedule(static)
            for (int64_t i = 0; i < T * H; i++) x[i] += out[i];
        }
    }
    free(h);
    free(qkv);
    free(q);
    free(attended);
    free(out);
    free(gate_up);
    free(act);
    return rc;
}
