// Prefetch and in_prefetched_blocks, for the matrix-vector kernels that read a block of
// weights from cache while the next one comes in (cpu/gemv_impl.h, cpu/gemv_avx512_bf16.cpp).
// Include it inside an anonymous namespace, as gemv_impl.h is included, after cpu/gemv.h (for
// GemvRows): nothing here has external linkage and nothing is included, so the code takes the
// level of the file that compiles it.

// The next block of weight rows, asked into the cache a share at each step the kernel takes
// through this block (see gemv_out_in in cpu/gemv_impl.h). Empty, it asks for nothing.
class Prefetch {
 public:
  Prefetch() = default;
  // `bytes` from p, over `steps` calls of step(): each asks for the lines up to its share's end.
  Prefetch(const void* p, int64_t bytes, int64_t steps)
      : base_(static_cast<const char*>(p)), bytes_(bytes), share_(bytes / steps + 1) {}
  void step() {
    asked_ += share_;
    for (; done_ < asked_ && done_ < bytes_; done_ += 64) __builtin_prefetch(base_ + done_, 0, 3);
  }

 private:
  const char* base_ = nullptr;
  int64_t bytes_ = 0, share_ = 0, done_ = 0, asked_ = 0;
};

// Weight rows [r.o0, r.o1) of row_bytes each, in blocks of `rows` rows: the first block read in
// by fetch(p, bytes) unless an earlier call asked for it (r.asked), then compute(o, end, ahead)
// for each block [o, end), with `ahead` asking for the next block over the steps(o, end) it
// takes: the next of these, or after the last, the first of [r.next0, r.next1).
template <class Fetch, class Steps, class Compute>
void in_prefetched_blocks(const void* w, int64_t row_bytes, const GemvRows& r, int64_t rows, Fetch fetch, Steps steps,
                          Compute compute) {
  const char* base = static_cast<const char*>(w);
  auto block_end = [&](int64_t o, int64_t limit) { return o + rows < limit ? o + rows : limit; };
  if (!r.asked) fetch(base + r.o0 * row_bytes, (block_end(r.o0, r.o1) - r.o0) * row_bytes);
  for (int64_t o = r.o0; o < r.o1; o += rows) {
    const int64_t end = block_end(o, r.o1);
    const int64_t next = end < r.o1 ? end : r.next0;
    const int64_t next_end = end < r.o1 ? block_end(end, r.o1) : block_end(r.next0, r.next1);
    Prefetch ahead(base + next * row_bytes, (next_end - next) * row_bytes, steps(o, end));
    compute(o, end, ahead);
  }
}
