// The matrix-vector kernels written once over a vector type, for the files that compile them
// for one instruction-set level each (gemv_avx512.cpp, gemv_avx2.cpp, gemv_baseline.cpp; see
// cpu/gemv.h). Include it inside an anonymous namespace after defining `V`:
//
//   struct V {
//     using F = ...;  static constexpr int64_t kLanes = ...;     // kLanes floats
//     static F zero(); static F set1(float); static F load(const float*);
//     static F fma(F a, F b, F c);       // a * b + c
//     static F add(F a, F b); static void store(float*, F); static float sum(F);
//     static F bf16(const uint16_t*); static F f16(const uint16_t*); static F i8(const int8_t*);
//     static float bf16_1(uint16_t); static float f16_1(uint16_t);   // one element
//   };
//
// Nothing here has external linkage and nothing is included: the functions take the level of
// the file that compiles them (see the note in cpu/gemv.h).

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

// out_in: for each weight row o, the dot products with NB rows of x (x0 .. x0 + NB - 1), in
// groups of `group` inputs each scaled by its own scale when Scaled (int8), else one group.
// Within a group, two accumulators per row of x take alternate vectors; their sum, times the
// scale, goes to the row's total; the last few inputs (I not a multiple of kLanes) are added
// one by one.
template <class T, int NB, bool Scaled>
void dot_rows(const GemvArgs& a, int64_t n0, int64_t o0, int64_t o1) {
  constexpr int64_t L = V::kLanes;
  const int64_t I = a.I;
  const int64_t group = Scaled ? a.group : I;
  const int64_t groups = Scaled ? (I + group - 1) / group : 1;
  const T* w = static_cast<const T*>(a.w);
  const float* x[NB];
  for (int n = 0; n < NB; ++n) x[n] = a.x + (n0 + n) * I;
  for (int64_t o = o0; o < o1; ++o) {
    const T* row = w + o * I;
    typename V::F total[NB];
    float tail[NB];
    for (int n = 0; n < NB; ++n) total[n] = V::zero(), tail[n] = 0;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t begin = g * group, end = begin + group < I ? begin + group : I;
      typename V::F acc0[NB], acc1[NB];
      for (int n = 0; n < NB; ++n) acc0[n] = V::zero(), acc1[n] = V::zero();
      int64_t i = begin;
      for (; i + 2 * L <= end; i += 2 * L) {
        const typename V::F w0 = Weights<T>::load(row + i), w1 = Weights<T>::load(row + i + L);
        for (int n = 0; n < NB; ++n) {
          acc0[n] = V::fma(w0, V::load(x[n] + i), acc0[n]);
          acc1[n] = V::fma(w1, V::load(x[n] + i + L), acc1[n]);
        }
      }
      if (i + L <= end) {
        const typename V::F w0 = Weights<T>::load(row + i);
        for (int n = 0; n < NB; ++n) acc0[n] = V::fma(w0, V::load(x[n] + i), acc0[n]);
        i += L;
      }
      const float scale = Scaled ? a.scales[o * groups + g] : 1.0f;
      for (int n = 0; n < NB; ++n) {
        float rest = 0;
        for (int64_t j = i; j < end; ++j) rest += Weights<T>::one(row[j]) * x[n][j];
        if (Scaled) {
          total[n] = V::fma(V::set1(scale), V::add(acc0[n], acc1[n]), total[n]);
          tail[n] += scale * rest;
        } else {
          total[n] = V::add(acc0[n], acc1[n]);
          tail[n] = rest;
        }
      }
    }
    for (int n = 0; n < NB; ++n) a.out[(n0 + n) * a.O + o] = (V::sum(total[n]) + tail[n]) + (a.bias ? a.bias[o] : 0.0f);
  }
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

// Every row of x, at most four at a time: each weight row is read from memory once per four
// rows of x (and from cache for the others).
template <class T, bool Scaled>
void gemv_out_in(const GemvArgs& a, int64_t o0, int64_t o1) {
  int64_t n = 0;
  for (; n + 4 <= a.N; n += 4) dot_rows<T, 4, Scaled>(a, n, o0, o1);
  switch (a.N - n) {
    case 3:
      dot_rows<T, 3, Scaled>(a, n, o0, o1);
      break;
    case 2:
      dot_rows<T, 2, Scaled>(a, n, o0, o1);
      break;
    case 1:
      dot_rows<T, 1, Scaled>(a, n, o0, o1);
      break;
    default:
      break;
  }
}

template <class T>
void gemv_in_out(const GemvArgs& a, int64_t o0, int64_t o1) {
  int64_t n = 0;
  for (; n + 2 <= a.N; n += 2) axpy_columns<T, 2>(a, n, o0, o1);
  if (n < a.N) axpy_columns<T, 1>(a, n, o0, o1);
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
  return k;
}
