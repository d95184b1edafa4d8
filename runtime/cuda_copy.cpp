#include "runtime/cuda_copy.h"

#include "runtime/cuda_plugin.h"
#include "runtime/error.h"

namespace pthrun {

static_assert(kMaxDims == PTHRUN_CUDA_MAX_DIMS);

namespace {

void set_layout(const Shape& shape, int* rank, int64_t* out) {
  *rank = shape.size();
  for (int d = 0; d < shape.size(); ++d) out[d] = shape[d];
}

PthrunCudaView view(const void* data, DType dtype, const Strides& strides) {
  PthrunCudaView v{};
  v.data = const_cast<void*>(data);
  v.dtype = static_cast<int>(dtype);
  for (int d = 0; d < strides.size(); ++d) v.strides[d] = strides[d];
  return v;
}

}  // namespace

void cuda_copy_strided(void* dst, DType dst_dtype, const Strides& dst_strides, const void* src, DType src_dtype,
                       const Strides& src_strides, const Shape& shape, const Stream& stream) {
  PthrunCudaCopyArgs args{};
  args.device = stream.device().index;
  set_layout(shape, &args.rank, args.shape);
  args.first = 0;
  args.count = shape_numel(shape);
  args.dst = view(dst, dst_dtype, dst_strides);
  args.src = view(src, src_dtype, src_strides);
  args.stream = stream.native();
  cuda_check(cuda_plugin().copy(&args));
}

void cuda_fill(void* dst, DType dtype, const Strides& strides, const Shape& shape, double value, const Stream& stream) {
  PthrunCudaFillArgs args{};
  args.device = stream.device().index;
  set_layout(shape, &args.rank, args.shape);
  args.dst = view(dst, dtype, strides);
  args.value = value;
  args.stream = stream.native();
  cuda_check(cuda_plugin().fill(&args));
}

void cuda_scatter(void* dst, DType dtype, const Strides& strides, const Shape& shape, int64_t first, int64_t count,
                  const void* src, const Stream& stream) {
  PTHRUN_ASSERT(first >= 0 && count >= 0 && first + count <= shape_numel(shape));
  PthrunCudaCopyArgs args{};
  args.device = stream.device().index;
  set_layout(shape, &args.rank, args.shape);
  args.first = first;
  args.count = count;
  args.dst = view(dst, dtype, strides);
  args.src = view(src, dtype, Strides{});
  args.src_packed = 1;
  args.stream = stream.native();
  cuda_check(cuda_plugin().copy(&args));
}

}  // namespace pthrun
