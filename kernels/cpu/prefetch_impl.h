// Prefetch, for the matrix-vector kernels that read a block of weights from cache while the
// next one comes in (cpu/gemv_impl.h, cpu/gemv_avx512_bf16.cpp). Include it inside an
// anonymous namespace, as gemv_impl.h is included: nothing here has external linkage and
// nothing is included, so the code takes the level of the file that compiles it.

// The next block of weight rows, asked into the cache a share before each tile of this block
// (see gemv_out_in in cpu/gemv_impl.h). Empty, it asks for nothing.
class Prefetch {
 public:
  Prefetch() = default;
  // `bytes` from p, over `tiles` calls of step().
  Prefetch(const void* p, int64_t bytes, int64_t tiles)
      : base_(static_cast<const char*>(p)), bytes_(bytes), share_((bytes / tiles + 64) / 64 * 64) {}
  void step() {
    const int64_t stop = bytes_ - done_ < share_ ? bytes_ : done_ + share_;
    for (; done_ < stop; done_ += 64) __builtin_prefetch(base_ + done_, 0, 3);
  }

 private:
  const char* base_ = nullptr;
  int64_t bytes_ = 0, share_ = 0, done_ = 0;
};
