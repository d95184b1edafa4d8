// The matrix-vector kernels written once over a vector type, for the files that compile them
// for one instruction-set level each (gemv_avx512.cpp, gemv_avx2.cpp, gemv_baseline.cpp; see
// cpu/gemv.h). Include it inside an anonymous namespace after defining `V`:
//
//   struct V {
//     using F = ...;  static constexpr int64_t kLanes = ...;     // kLanes floats
//     static constexpr int kTileRows = ...;   // weight rows per out_in tile of a many-row product
//     static constexpr int kTileXRows = ...;  // rows of x per out_in tile
//     static constexpr int kInOutXRows = ...;  // rows of x per in_out tile
//     static constexpr int kTileVectors = ...;  // column vectors per in_out tile
//     static F zero(); static F set1(float); static F load(const float*);
//     static F fma(F a, F b, F c);       // a * b + c
//     static F add(F a, F b); static void store(float*, F); static float sum(F);
//     static void sums(const F* v, int count, float* out);  // out[k] = sum(v[k]), count <= 16
//     static F in_register(F);           // v itself, held in a register (see dot_tile)
//     static void touch(const void*);    // reads p, only to bring its cache line in (fetch)
//     static F bf16(const uint16_t*); static F f16(const uint16_t*); static F i8(const int8_t*);
//     static float bf16_1(uint16_t); static float f16_1(uint16_t);   // one element
//     static void store_f16(uint16_t*, F); static uint16_t f16_of(float);  // rounded to nearest even
//   };
//
// Nothing here has external linkage and nothing is included but cpu/prefetch_impl.h, which
// follows the same rule: the functions take the level of the file that compiles them (see the
// note in cpu/gemv.h).

#include "kernels/cpu/prefetch_impl.h"

// One element type of weights on this level: kLanes weights as f32, and one weight as f32.
template <class T>
struct Weights;
template <>
struct Weights<float> {
  static V::F load(const float* p) { return V::load(p); }
  static float one(float v) { return v; }
};
template <>
struct Weights<uint16_t /* bf16 */> {
  static V::F load(const uint16_t* p) { return V::bf16(p); }
  static float one(uint16_t v) { return V::bf16_1(v); }
};
struct F16Bits {
  uint16_t bits;
};
template <>
struct Weights<F16Bits> {
  static V::F load(const F16Bits* p) { return V::f16(&p->bits); }
  static float one(F16Bits v) { return V::f16_1(v.bits); }
};
template <>
struct Weights<int8_t> {
  static V::F load(const int8_t* p) { return V::i8(p); }
  static float one(int8_t v) { return static_cast<float>(v); }
};

// The running sums of a tile's pairs of rows, kept from one slice of the inputs to the next:
// the accumulators of dot_tile, the totals and tails of dot_tile_scaled.
template <int R, int NB>
struct TileSums {
  typename V::F acc0[R][NB], acc1[R][NB], total[R][NB];
  float tail[R][NB];
};

// acc[r][n] += row r's vector at i times row n's of x, for every pair of a tile (dot_tile).
template <class T, int R, int NB>
inline void multiply_add(const T* const (&row)[R], const float* const (&x)[NB], int64_t i, typename V::F (&acc)[R][NB]) {
  typename V::F wv[R];
  for (int r = 0; r < R; ++r) wv[r] = Weights<T>::load(row[r] + i);
  for (int n = 0; n < NB; ++n) {
    // Loaded once for the R products: left to itself, GCC folds the load into each
    // multiply-add, loading it R times, and the tile's loads are its bottleneck.
    const typename V::F xv = V::in_register(V::load(x[n] + i));
    for (int r = 0; r < R; ++r) acc[r][n] = V::fma(wv[r], xv, acc[r][n]);
  }
}

// Inputs [begin, end) of a tile's pairs two vectors at a time, alternately into acc0 and acc1,
// `ahead` taking a step before each two: the next block comes in evenly over the block's
// multiply-adds; asked for a tile's share at once, it came slower (see gemv_out_in). Returns
// where it stopped (fewer than two vectors before end).
template <class T, int R, int NB>
inline int64_t multiply_add_pairs(const T* const (&row)[R], const float* const (&x)[NB], int64_t begin, int64_t end,
                                  typename V::F (&acc0)[R][NB], typename V::F (&acc1)[R][NB], Prefetch& ahead) {
  constexpr int64_t L = V::kLanes;
  Prefetch prefetch = ahead;  // a copy GCC keeps in registers
  int64_t i = begin;
  for (; i + 2 * L <= end; i += 2 * L) {
    prefetch.step();
    multiply_add<T, R, NB>(row, x, i, acc0);
    multiply_add<T, R, NB>(row, x, i + L, acc1);
  }
  ahead = prefetch;
  return i;
}

// out_in: the dot products of R weight rows (o .. o + R - 1) with NB rows of x (x0 .. x0 +
// NB - 1), weights without scales (f32, bf16, f16). Two accumulators per pair of rows take
// alternate vectors, the last vector (an odd count) the first; then the pair's sum is the sum
// of their sum's lanes (V::sums, which sums each as V::sum does), plus the last few inputs (I
// not a multiple of kLanes) added one by one, plus the bias. Every pair is computed by the
// same operations in the same order whatever R and NB: a tile only shares the loads of a
// weight vector between the rows of x and of an x vector between the weight rows.
//
// Sliced, a call adds inputs [i0, i1) to the sums; until i1 reaches I they go back to `saved`
// for the next slice. Slices end an even number of vectors from the start: the accumulators
// carry over as if the loop had gone on. A function of its own, not inlined, so that GCC keeps
// the tile's 2 R NB sums in registers: inlined, it kept one of a 2 x 6 tile's 24 on the stack
// and all of them in memory between calls, and the tiles ran at 113-135 GFLOP/s on one core
// with the weights in L2, against 171-176 (with 3072 inputs in slices, from memory: 117 -> 126).
template <class T, int R, int NB, bool Sliced>
[[gnu::noinline]] void dot_tile(const GemvArgs& a, int64_t n0, int64_t o, int64_t i0, int64_t i1,
                                TileSums<R, NB>& saved, Prefetch& ahead) {
  constexpr int64_t L = V::kLanes;
  const int64_t I = a.I;
  const T* row[R];
  for (int r = 0; r < R; ++r) row[r] = static_cast<const T*>(a.w) + (o + r) * I;
  const float* x[NB];
  for (int n = 0; n < NB; ++n) x[n] = a.x + (n0 + n) * I;
  typename V::F acc0[R][NB], acc1[R][NB];
  for (int r = 0; r < R; ++r)
    for (int n = 0; n < NB; ++n) {
      acc0[r][n] = !Sliced || i0 == 0 ? V::zero() : saved.acc0[r][n];
      acc1[r][n] = !Sliced || i0 == 0 ? V::zero() : saved.acc1[r][n];
    }
  int64_t i = multiply_add_pairs<T, R, NB>(row, x, Sliced ? i0 : 0, Sliced ? i1 : I, acc0, acc1, ahead);
  if (Sliced && i1 < I) {
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NB; ++n) saved.acc0[r][n] = acc0[r][n], saved.acc1[r][n] = acc1[r][n];
    return;
  }
  if (i + L <= I) {
    multiply_add<T, R, NB>(row, x, i, acc0);
    i += L;
  }
  typename V::F total[R * NB];
  for (int r = 0; r < R; ++r)
    for (int n = 0; n < NB; ++n) total[r * NB + n] = V::add(acc0[r][n], acc1[r][n]);
  float sums[R * NB];
  if constexpr (R * NB == 1) sums[0] = V::sum(total[0]);
  else V::sums(total, R * NB, sums);
  for (int r = 0; r < R; ++r) {
    const float bias = a.bias ? a.bias[o + r] : 0.0f;
    for (int n = 0; n < NB; ++n) {
      float rest = 0;
      for (int64_t j = i; j < I; ++j) rest += Weights<T>::one(row[r][j]) * x[n][j];
      a.out[(n0 + n) * a.O + o + r] = (sums[r * NB + n] + rest) + bias;
    }
  }
}

// dot_tile for int8 weights, in groups of `group` inputs each scaled by its own scale: within
// a group the two accumulators as above; their sum, times the scale, goes to the pair's total,
// and the group's last few inputs, times the scale, to its tail. Slices end on group
// boundaries; the totals and tails carry over with the accumulators.
template <class T, int R, int NB>
[[gnu::noinline]] void dot_tile_scaled(const GemvArgs& a, int64_t n0, int64_t o, int64_t i0, int64_t i1,
                                       TileSums<R, NB>& saved, Prefetch& ahead) {
  constexpr int64_t L = V::kLanes;
  const int64_t I = a.I, group = a.group, groups = (I + group - 1) / group;
  const T* row[R];
  for (int r = 0; r < R; ++r) row[r] = static_cast<const T*>(a.w) + (o + r) * I;
  const float* x[NB];
  for (int n = 0; n < NB; ++n) x[n] = a.x + (n0 + n) * I;
  typename V::F acc0[R][NB], acc1[R][NB], total[R][NB];
  float tail[R][NB];
  for (int r = 0; r < R; ++r)
    for (int n = 0; n < NB; ++n) {
      total[r][n] = i0 == 0 ? V::zero() : saved.total[r][n];
      tail[r][n] = i0 == 0 ? 0.0f : saved.tail[r][n];
    }
  for (int64_t g = i0 / group; g * group < i1; ++g) {
    const int64_t begin = g * group, end = begin + group < I ? begin + group : I;
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NB; ++n) acc0[r][n] = V::zero(), acc1[r][n] = V::zero();
    int64_t i = multiply_add_pairs<T, R, NB>(row, x, begin, end, acc0, acc1, ahead);
    if (i + L <= end) {
      multiply_add<T, R, NB>(row, x, i, acc0);
      i += L;
    }
    for (int r = 0; r < R; ++r) {
      const float scale = a.scales[(o + r) * groups + g];
      for (int n = 0; n < NB; ++n) {
        float rest = 0;
        for (int64_t j = i; j < end; ++j) rest += Weights<T>::one(row[r][j]) * x[n][j];
        total[r][n] = V::fma(V::set1(scale), V::add(acc0[r][n], acc1[r][n]), total[r][n]);
        tail[r][n] += scale * rest;
      }
    }
  }
  if (i1 < I) {
    for (int r = 0; r < R; ++r)
      for (int n = 0; n < NB; ++n) saved.total[r][n] = total[r][n], saved.tail[r][n] = tail[r][n];
    return;
  }
  for (int r = 0; r < R; ++r) {
    const float bias = a.bias ? a.bias[o + r] : 0.0f;
    for (int n = 0; n < NB; ++n) a.out[(n0 + n) * a.O + o + r] = (V::sum(total[r][n]) + tail[r][n]) + bias;
  }
}

// At most this many weight rows in a block that is cut into slices of inputs (the sums of its
// tiles live on the stack meanwhile).
constexpr int64_t kMaxSlicedRows = 64;

// Weight rows [o0, o1) against rows n0 .. n0 + NB - 1 of x, R weight rows at a time, one slice
// of `slice` inputs after the other (slice = I: the whole rows at once); the tiles step `ahead`.
template <class T, int R, int NB, bool Scaled>
void dot_block(const GemvArgs& a, int64_t n0, int64_t o0, int64_t o1, int64_t slice, Prefetch& ahead) {
  // In one slice nothing carries over, and one set of sums serves every tile.
  const bool sliced = slice < a.I;
  TileSums<R, NB> sums[kMaxSlicedRows / R];
  TileSums<1, NB> rest_sums[R];
  auto tile = [&]<int Rows>(int64_t o, int64_t i0, int64_t i1, TileSums<Rows, NB>& saved) {
    if constexpr (Scaled) dot_tile_scaled<T, Rows, NB>(a, n0, o, i0, i1, saved, ahead);
    else if (sliced) dot_tile<T, Rows, NB, true>(a, n0, o, i0, i1, saved, ahead);
    else dot_tile<T, Rows, NB, false>(a, n0, o, i0, i1, saved, ahead);
  };
  for (int64_t i0 = 0; i0 < a.I; i0 += slice) {
    const int64_t i1 = i0 + slice < a.I ? i0 + slice : a.I;
    int64_t o = o0, t = 0;
    for (; o + R <= o1; o += R, ++t) tile(o, i0, i1, sums[sliced ? t : 0]);
    for (int64_t k = 0; o < o1; ++o, ++k) tile(o, i0, i1, rest_sums[sliced ? k : 0]);
  }
}

// The rows of x from n on, NB at most at a time: the last NB - 1 or fewer in one smaller
// block (see dot_block).
template <class T, int R, int NB, bool Scaled>
void dot_rest_of_x(const GemvArgs& a, int64_t n, int64_t o0, int64_t o1, int64_t slice, Prefetch& ahead) {
  if constexpr (NB > 0) {
    if (a.N - n >= NB) return dot_block<T, R, NB, Scaled>(a, n, o0, o1, slice, ahead);
    return dot_rest_of_x<T, R, NB - 1, Scaled>(a, n, o0, o1, slice, ahead);
  }
}

// Weight rows [o0, o1) against every row of x, V::kTileXRows rows of x at a time.
template <class T, int R, bool Scaled>
void dot_rows_of_x(const GemvArgs& a, int64_t o0, int64_t o1, int64_t slice, Prefetch& ahead) {
  constexpr int NB = V::kTileXRows;
  int64_t n = 0;
  for (; n + NB <= a.N; n += NB) dot_block<T, R, NB, Scaled>(a, n, o0, o1, slice, ahead);
  if (n < a.N) dot_rest_of_x<T, R, NB - 1, Scaled>(a, n, o0, o1, slice, ahead);
}

// The steps dot_rows_of_x takes of its Prefetch for weight rows [o0, o1): its tiles times their
// pairs of vectors (close enough where groups or slices leave a vector over: a block's last
// lines then come in as it is read).
template <int R>
int64_t prefetch_steps(const GemvArgs& a, int64_t o0, int64_t o1) {
  constexpr int NB = V::kTileXRows;
  const int64_t tiles = (a.N + NB - 1) / NB * ((o1 - o0) / R + (o1 - o0) % R);
  return tiles * (a.I / (2 * V::kLanes) > 0 ? a.I / (2 * V::kLanes) : 1);
}

// in_out: out[n, c] for the columns c of [o0, o1), NB rows of x. Accumulates a block of
// columns over every weight row i in order (the rows are read front to back, each block a
// contiguous run), four rows at a time so that the accumulators are loaded and stored once
// per four multiply-adds.
template <class T, int NB>
void axpy_columns(const GemvArgs& a, int64_t n0, int64_t o0, int64_t o1) {
  constexpr int64_t L = V::kLanes, kBlock = 4096 / NB;  // 16 KiB of accumulators
  const int64_t I = a.I, O = a.O;
  const T* w = static_cast<const T*>(a.w);
  float acc[NB][kBlock];
  for (int64_t c0 = o0; c0 < o1; c0 += kBlock) {
    const int64_t width = o1 - c0 < kBlock ? o1 - c0 : kBlock, vector_width = width / L * L;
    for (int n = 0; n < NB; ++n)
      for (int64_t c = 0; c < width; ++c) acc[n][c] = 0;
    int64_t i = 0;
    for (; i + 4 <= I; i += 4) {
      const T* r0 = w + i * O + c0;
      const T *r1 = r0 + O, *r2 = r1 + O, *r3 = r2 + O;
      typename V::F xs[NB][4];
      for (int n = 0; n < NB; ++n)
        for (int k = 0; k < 4; ++k) xs[n][k] = V::set1(a.x[(n0 + n) * I + i + k]);
      for (int64_t c = 0; c < vector_width; c += L) {
        const typename V::F w0 = Weights<T>::load(r0 + c), w1 = Weights<T>::load(r1 + c), w2 = Weights<T>::load(r2 + c),
                            w3 = Weights<T>::load(r3 + c);
        for (int n = 0; n < NB; ++n) {
          typename V::F s = V::load(acc[n] + c);
          s = V::fma(w0, xs[n][0], s);
          s = V::fma(w1, xs[n][1], s);
          s = V::fma(w2, xs[n][2], s);
          s = V::fma(w3, xs[n][3], s);
          V::store(acc[n] + c, s);
        }
      }
      for (int64_t c = vector_width; c < width; ++c)
        for (int n = 0; n < NB; ++n) {
          const float* xn = a.x + (n0 + n) * I + i;
          float s = acc[n][c];
          s += Weights<T>::one(r0[c]) * xn[0];
          s += Weights<T>::one(r1[c]) * xn[1];
          s += Weights<T>::one(r2[c]) * xn[2];
          s += Weights<T>::one(r3[c]) * xn[3];
          acc[n][c] = s;
        }
    }
    for (; i < I; ++i) {
      const T* r0 = w + i * O + c0;
      for (int n = 0; n < NB; ++n) {
        const typename V::F xs = V::set1(a.x[(n0 + n) * I + i]);
        for (int64_t c = 0; c < vector_width; c += L)
          V::store(acc[n] + c, V::fma(Weights<T>::load(r0 + c), xs, V::load(acc[n] + c)));
        for (int64_t c = vector_width; c < width; ++c) acc[n][c] += Weights<T>::one(r0[c]) * a.x[(n0 + n) * I + i];
      }
    }
    for (int n = 0; n < NB; ++n)
      for (int64_t c = 0; c < width; ++c) a.out[(n0 + n) * O + c0 + c] = acc[n][c] + (a.bias ? a.bias[c0 + c] : 0.0f);
  }
}

// Rows of at most this many inputs (a head's keys in decode attention: 64) are short_rows'.
constexpr int64_t kShortRowInputs = 128;

// out_in for short rows: a row's product is a handful of multiply-adds, as many as the sum
// across its lanes (V::sum) that dot_tile ends with would take. So 16 weight rows are
// multiplied by a row of x, each into one vector of sums, and their lanes summed together
// (V::sums). Every row of x alone, by the same operations: row-invariant.
template <class T>
void short_rows(const GemvArgs& a, int64_t o0, int64_t o1) {
  constexpr int64_t L = V::kLanes, kRows = 16;
  const int64_t I = a.I, vectors = I / L;
  const T* w = static_cast<const T*>(a.w);
  for (int64_t n = 0; n < a.N; ++n) {
    const float* x = a.x + n * I;
    typename V::F xv[kShortRowInputs / L];
    for (int64_t v = 0; v < vectors; ++v) xv[v] = V::load(x + v * L);
    for (int64_t o = o0; o < o1; o += kRows) {
      const int count = static_cast<int>(o1 - o < kRows ? o1 - o : kRows);
      typename V::F acc[kRows];
      for (int k = 0; k < count; ++k) {
        const T* row = w + (o + k) * I;
        acc[k] = V::zero();
        for (int64_t v = 0; v < vectors; ++v) acc[k] = V::fma(Weights<T>::load(row + v * L), xv[v], acc[k]);
      }
      float sums[kRows];
      V::sums(acc, count, sums);
      float* out = a.out + n * a.O + o;
      for (int k = 0; k < count; ++k) {
        const T* row = w + (o + k) * I;
        float rest = 0;
        for (int64_t i = vectors * L; i < I; ++i) rest += Weights<T>::one(row[i]) * x[i];
        out[k] = (sums[k] + rest) + (a.bias ? a.bias[o + k] : 0.0f);
      }
    }
  }
}

// See FetchFn.
void fetch(const void* p, int64_t bytes) {
  const char* line = static_cast<const char*>(p);
  for (int64_t i = 0; i + 64 <= bytes; i += 64) V::touch(line + i);
}

// One row of x (decode of one sequence): the time is that of reading the weights, so each
// weight row is read once, whole and in order, from memory. So are they for up to
// kStreamedRows rows of x that fit in L1 with room to spare (kStreamedXBytes): a few requests'
// decode step is still the memory's time, which the blocks below take longer over (a 2-prompt
// `pthrun generate` step of gpt2-small: 13.5-14.8 ms streamed, 14.4-15.3 in blocks). More rows
// (a batched decode step): the time is that of the multiply-adds and their loads. Blocks of
// weight rows small enough to stay in a core's L2 cache beside the next one coming in
// (weight_block_bytes) then meet every row of x, in tiles of V::kTileRows weight rows and
// V::kTileXRows rows of x that load each vector once for several products, and in slices of
// inputs short enough that a tile's rows stay in L1 (their sums, at most kMaxSlicedRows rows'
// worth, wait on the stack). The first block is read from memory on its own (fetch), as one
// row of x reads it, at the memory's full speed; each next one is asked into the cache while
// the tiles compute from it, a share of its lines before every two vectors of every tile
// (Prefetch), so that the multiply-adds and the memory work at once.
// Read by the tiles' first pass instead, between their multiply-adds, a block came in at half
// speed; asked for with each weight vector of one pass (the whole block in a third of the
// tiles), it came slower than read on its own (a 16-prompt step of 128-token prompts: 30.1-31.1
// ms against 28.2-28.8); a share before each tile, faster than read on its own (the step
// 25.0-26.5 against 26.6-27.3 ms); a share every two vectors, faster again (the step 22.8-23.2
// against 24.8-25.5 ms; gpt2-small's head for 16 rows on one core, 7.7-8.1 against 10.0 ms).
constexpr int64_t kStreamedRows = 4, kStreamedXBytes = 24 << 10;

template <class T, bool Scaled>
void gemv_out_in(const GemvArgs& a, const GemvRows& r) {
  const int64_t o0 = r.o0, o1 = r.o1;
  if (!Scaled && a.I <= kShortRowInputs) return short_rows<T>(a, o0, o1);
  if (a.N <= 1 || (!Scaled && a.N <= kStreamedRows && a.N * a.I * 4 <= kStreamedXBytes)) {
    // All of x in one pass over the weights, whatever V::kTileXRows: with AVX2's 3, four rows
    // went as 3 + 1 and read the weights twice (gpt2-small's head for 4 rows, 2 threads: 9.3 ms
    // against 4.8 for 3 rows and 5.3 for 5).
    Prefetch nothing;
    return dot_rest_of_x<T, 1, kStreamedRows, Scaled>(a, 0, o0, o1, a.I, nothing);
  }
  constexpr int64_t kSliceInputs = 1024;
  // Slices end on group boundaries (int8) or after a multiple of 2 kLanes inputs (see dot_tile).
  const int64_t slice = Scaled ? (kSliceInputs + a.group - 1) / a.group * a.group : kSliceInputs;
  int64_t rows = weight_block_bytes() / (a.I * static_cast<int64_t>(sizeof(T)));
  if (slice < a.I && rows > kMaxSlicedRows) rows = kMaxSlicedRows;
  rows = rows / V::kTileRows * V::kTileRows;
  if (rows < V::kTileRows) rows = V::kTileRows;
  in_prefetched_blocks(
      a.w, a.I * static_cast<int64_t>(sizeof(T)), r, rows, fetch,
      [&](int64_t o, int64_t end) { return prefetch_steps<V::kTileRows>(a, o, end); },
      [&](int64_t o, int64_t end, Prefetch& ahead) { dot_rows_of_x<T, V::kTileRows, Scaled>(a, o, end, slice, ahead); });
}

// in_out for several rows of x, one block of weight rows (inputs i0 .. i1 - 1) at a time: the
// columns [c0, c0 + tiles * W) of the block's rows (W = V::kTileVectors vectors), widened to f32
// and packed tile by tile, each tile's rows side by side (pack_in_out), meet NB rows of x from
// n0 in register tiles of NB rows times W columns (each weight vector loaded once for the NB
// rows, each x element broadcast once for the tile). The sums wait in `out` from one block to
// the next. Every element is summed as axpy_columns sums it: one multiply-add per weight row,
// in order, then the bias; so a row gets the same bits in a tile as alone.
template <int NB>
void axpy_packed(const GemvArgs& a, const float* packed, int64_t n0, int64_t c0, int64_t tiles, int64_t i0,
                 int64_t i1) {
  constexpr int64_t L = V::kLanes, C = V::kTileVectors, W = C * L;
  const int64_t I = a.I, O = a.O, rows = i1 - i0;
  for (int64_t t = 0; t < tiles; ++t) {
    const float* w = packed + t * rows * W;
    float* out[NB];
    for (int n = 0; n < NB; ++n) out[n] = a.out + (n0 + n) * O + c0 + t * W;
    typename V::F acc[NB][C];
    for (int n = 0; n < NB; ++n)
      for (int c = 0; c < C; ++c) acc[n][c] = i0 == 0 ? V::zero() : V::load(out[n] + c * L);
    for (int64_t i = i0; i < i1; ++i, w += W) {
      typename V::F wv[C];
      for (int c = 0; c < C; ++c) wv[c] = V::load(w + c * L);
      for (int n = 0; n < NB; ++n) {
        const typename V::F xv = V::set1(a.x[(n0 + n) * I + i]);
        for (int c = 0; c < C; ++c) acc[n][c] = V::fma(wv[c], xv, acc[n][c]);
      }
    }
    for (int n = 0; n < NB; ++n)
      for (int c = 0; c < C; ++c) V::store(out[n] + c * L, acc[n][c]);
    if (i1 < I) continue;
    for (int n = 0; n < NB; ++n)
      for (int64_t k = 0; k < W; ++k) out[n][k] = out[n][k] + (a.bias ? a.bias[c0 + t * W + k] : 0.0f);
  }
}

// f.template operator()<K>(n) over the rows [n, N) of x in groups of NB, the rest in one
// smaller group.
template <int NB, class F>
void in_row_groups(int64_t N, int64_t n, F&& f) {
  if constexpr (NB > 0) {
    for (; N - n >= NB; n += NB) f.template operator()<NB>(n);
    if (n < N) in_row_groups<NB - 1>(N, n, f);
  }
}

// Weight rows [i0, i1), columns [c0, c0 + tiles * W), widened to f32 into `packed`: tile t's
// rows one after another, W floats each. Each row's columns are one contiguous run, read front
// to back.
template <class T>
void pack_in_out(const GemvArgs& a, float* packed, int64_t c0, int64_t tiles, int64_t i0, int64_t i1) {
  constexpr int64_t L = V::kLanes, C = V::kTileVectors, W = C * L;
  const int64_t rows = i1 - i0;
  for (int64_t i = i0; i < i1; ++i) {
    const T* row = static_cast<const T*>(a.w) + i * a.O + c0;
    for (int64_t t = 0; t < tiles; ++t) {
      float* to = packed + (t * rows + i - i0) * W;
      for (int64_t c = 0; c < W; c += L) V::store(to + c, Weights<T>::load(row + t * W + c));
    }
  }
}

// One row of x streams the weight (axpy_columns). More rows meet it in packed blocks of
// kPackedFloats (64 KiB, in L2 beside everything else), each block's rows read from memory
// once, as contiguous runs of the thread's columns. Tiles that read the weight in place, a run
// of W columns from every row in turn, stepped from row to row 3-12 KB apart, which the
// hardware prefetchers follow poorly: gpt2-small's products for 16 rows on one core, qkv
// 1.41-1.56 -> 1.37-1.47 ms, fc 2.06-2.16 -> 1.89-2.01, fc2 1.72-1.79 -> 1.51-1.60
// (`kernel-bench --batch 16 --layout in_out`, 3 interleaved runs); a 16-prompt decode step of a
// Hugging Face checkpoint 73-80 -> 61-70 ms. Still about 1.5x the [out, in] layout's time.
constexpr int64_t kPackedFloats = 16384, kMinPackedRows = 8;

template <class T>
void gemv_in_out(const GemvArgs& a, const GemvRows& r) {
  const int64_t o0 = r.o0, o1 = r.o1;
  if (a.N <= 1) return axpy_columns<T, 1>(a, 0, o0, o1);
  constexpr int64_t W = V::kTileVectors * V::kLanes, kMaxTiles = kPackedFloats / (kMinPackedRows * W);
  const int64_t tiles = (o1 - o0) / W;
  float packed[kPackedFloats];
  for (int64_t t0 = 0; t0 < tiles; t0 += kMaxTiles) {
    const int64_t count = tiles - t0 < kMaxTiles ? tiles - t0 : kMaxTiles, c0 = o0 + t0 * W;
    const int64_t rows = kPackedFloats / (count * W);
    for (int64_t i0 = 0; i0 < a.I; i0 += rows) {
      const int64_t i1 = i0 + rows < a.I ? i0 + rows : a.I;
      pack_in_out<T>(a, packed, c0, count, i0, i1);
      in_row_groups<V::kInOutXRows>(a.N, 0,
                                    [&]<int NB>(int64_t n) { axpy_packed<NB>(a, packed, n, c0, count, i0, i1); });
    }
  }
  // The columns past the last tile, fewer than a tile.
  const int64_t rest = o0 + tiles * W;
  if (rest < o1) in_row_groups<V::kInOutXRows>(a.N, 0, [&]<int NB>(int64_t n) { axpy_columns<T, NB>(a, n, rest, o1); });
}

template <class T, bool Scaled>
void widen_rows(float* dst, const GemvArgs& a, int64_t o0, int64_t o1) {
  constexpr int64_t L = V::kLanes;
  const int64_t I = a.I;
  const int64_t group = Scaled ? a.group : I;
  const int64_t groups = Scaled ? (I + group - 1) / group : 1;
  const T* w = static_cast<const T*>(a.w);
  for (int64_t o = o0; o < o1; ++o) {
    const T* row = w + o * I;
    float* d = dst + (o - o0) * I;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t begin = g * group, end = begin + group < I ? begin + group : I;
      const float scale = Scaled ? a.scales[o * groups + g] : 1.0f;
      const typename V::F s = V::set1(scale);
      int64_t i = begin;
      for (; i + L <= end; i += L) {
        const typename V::F v = Weights<T>::load(row + i);
        V::store(d + i, Scaled ? V::fma(v, s, V::zero()) : v);
      }
      for (; i < end; ++i) d[i] = Weights<T>::one(row[i]) * scale;
    }
  }
}

template <class T>
void widen_columns(float* dst, const GemvArgs& a, int64_t o0, int64_t o1) {
  constexpr int64_t L = V::kLanes;
  const int64_t width = o1 - o0, vector_width = width / L * L;
  const T* w = static_cast<const T*>(a.w);
  for (int64_t i = 0; i < a.I; ++i) {
    const T* row = w + i * a.O + o0;
    float* d = dst + i * width;
    int64_t c = 0;
    for (; c < vector_width; c += L) V::store(d + c, Weights<T>::load(row + c));
    for (; c < width; ++c) d[c] = Weights<T>::one(row[c]);
  }
}

// n floats as f16, rounded to nearest even (see RoundF16Fn).
void round_f16(uint16_t* dst, const float* src, int64_t n) {
  constexpr int64_t L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::store_f16(dst + i, V::load(src + i));
  for (; i < n; ++i) dst[i] = V::f16_of(src[i]);
}

// The table of this level: every kernel above for every element type.
GemvKernels make_table(CpuIsa isa) {
  GemvKernels k{};
  k.isa = isa;
  k.out_in[kGemvF32] = gemv_out_in<float, false>;
  k.out_in[kGemvBf16] = gemv_out_in<uint16_t, false>;
  k.out_in[kGemvF16] = gemv_out_in<F16Bits, false>;
  k.out_in[kGemvInt8] = gemv_out_in<int8_t, true>;
  k.in_out[kGemvF32] = gemv_in_out<float>;
  k.in_out[kGemvBf16] = gemv_in_out<uint16_t>;
  k.in_out[kGemvF16] = gemv_in_out<F16Bits>;
  k.widen_rows[kGemvBf16] = widen_rows<uint16_t, false>;
  k.widen_rows[kGemvF16] = widen_rows<F16Bits, false>;
  k.widen_rows[kGemvInt8] = widen_rows<int8_t, true>;
  k.widen_columns[kGemvBf16] = widen_columns<uint16_t>;
  k.widen_columns[kGemvF16] = widen_columns<F16Bits>;
  k.round_f16 = round_f16;
  k.fetch = fetch;
  return k;
}
