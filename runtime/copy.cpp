// Copies between tensors of any dtype, device and strides; fill; host conversions.
//
// A GPU copy or fill given no stream must not race with work the caller queued on its own
// streams, which are non-blocking (they do not wait for the legacy default stream, nor it for
// them). So it waits until the whole device is idle, runs on a stream of the runtime's own, and
// waits for that stream before returning: ordered after everything submitted before the call
// and finished before anything submitted after it. Slow, and meant for setup and tests; hot
// paths pass their stream.
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "runtime/convert_element.h"
#include "runtime/cuda_copy.h"
#include "runtime/error.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace pthrun {

namespace {

// Visits every element of `shape` in row-major order, handing over both views' element
// offsets; an odometer avoids a division per element.
template <typename F>
void for_each_offset(const Shape& shape, const Strides& a, const Strides& b, F&& visit) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  int64_t index[kMaxDims] = {};
  int64_t offset_a = 0, offset_b = 0;
  const int rank = shape.size();
  for (int64_t i = 0; i < n; ++i) {
    visit(offset_a, offset_b);
    for (int d = rank - 1; d >= 0; --d) {
      if (++index[d] < shape[d]) {
        offset_a += a[d];
        offset_b += b[d];
        break;
      }
      offset_a -= (shape[d] - 1) * a[d];
      offset_b -= (shape[d] - 1) * b[d];
      index[d] = 0;
    }
  }
}

void copy_host(const Tensor& dst, const Tensor& src) {
  if (dst.is_contiguous() && src.is_contiguous()) {
    convert_host(src.data_ptr(), src.dtype(), dst.data_ptr(), dst.dtype(), static_cast<std::size_t>(dst.numel()));
    return;
  }
  char* d = static_cast<char*>(dst.data_ptr());
  const char* s = static_cast<const char*>(src.data_ptr());
  const auto dsize = static_cast<int64_t>(dst.itemsize()), ssize = static_cast<int64_t>(src.itemsize());
  const DType ddt = dst.dtype(), sdt = src.dtype();
  for_each_offset(dst.shape(), dst.strides(), src.strides(), [&](int64_t od, int64_t os) {
    if (ddt == sdt) std::memcpy(d + od * dsize, s + os * ssize, static_cast<std::size_t>(dsize));
    else store_element(d + od * dsize, ddt, load_element(s + os * ssize, sdt));
  });
}

// The stream a GPU copy or fill runs on: the caller's, or (none given) the runtime's own,
// ordered as the note at the top of this file says.
class CopyStream {
 public:
  CopyStream(Device device, const Stream* given) : stream_(given), own_(!given) {
    if (!own_) return;
    synchronize_device(device);
    stream_ = &own_stream(device);
  }
  CopyStream(const CopyStream&) = delete;
  CopyStream& operator=(const CopyStream&) = delete;
  const Stream& get() const { return *stream_; }
  const Stream* pointer() const { return stream_; }
  // With the runtime's own stream, waits until the call's work has finished.
  void finish() const {
    if (own_) stream_->synchronize();
  }

 private:
  static const Stream& own_stream(Device device) {
    // Never destroyed: copies may run while other statics are torn down at exit.
    static auto* mutex = new std::mutex;
    static auto* streams = new std::map<int, Stream>;
    std::lock_guard lock(*mutex);
    auto it = streams->find(device.index);
    if (it == streams->end()) it = streams->emplace(device.index, Stream::create(device)).first;
    return it->second;
  }

  const Stream* stream_;
  bool own_;
};

}  // namespace

void convert_host(const void* src, DType src_dtype, void* dst, DType dst_dtype, std::size_t n) {
  if (src_dtype == dst_dtype) {
    if (n) std::memcpy(dst, src, n * itemsize(src_dtype));
    return;
  }
  // The conversions the loader and the model run on large tensors get loops of their own. A
  // signaling NaN comes out quiet, as the GPU's copy kernel makes it (convert_element.h).
  if (dst_dtype == DType::f32 && (src_dtype == DType::f16 || src_dtype == DType::bf16)) {
    const auto* s = static_cast<const uint16_t*>(src);
    auto* d = static_cast<float*>(dst);
    if (src_dtype == DType::f16)
      for (std::size_t i = 0; i < n; ++i) d[i] = quiet_nan(f16_to_f32(s[i]));
    else
      for (std::size_t i = 0; i < n; ++i) d[i] = quiet_nan(bf16_to_f32(s[i]));
    return;
  }
  if (src_dtype == DType::f32 && (dst_dtype == DType::f16 || dst_dtype == DType::bf16)) {
    const auto* s = static_cast<const float*>(src);
    auto* d = static_cast<uint16_t*>(dst);
    if (dst_dtype == DType::f16)
      for (std::size_t i = 0; i < n; ++i) d[i] = f32_to_f16(s[i]);
    else
      for (std::size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
    return;
  }
  const auto* s = static_cast<const char*>(src);
  auto* d = static_cast<char*>(dst);
  const std::size_t ssize = itemsize(src_dtype), dsize = itemsize(dst_dtype);
  for (std::size_t i = 0; i < n; ++i) store_element(d + i * dsize, dst_dtype, load_element(s + i * ssize, src_dtype));
}

void Tensor::copy_from(const Tensor& src, const Stream* stream) const {
  PTHRUN_CHECK(defined() && src.defined(), "copy between undefined tensors");
  PTHRUN_CHECK(shape_ == src.shape_, "copy from shape ", src.shape_.to_string(), " into shape ",
               shape_.to_string());
  if (numel() == 0) return;
  const Device to = device(), from = src.device();
  if (to.is_cpu() && from.is_cpu()) {
    copy_host(*this, src);
    return;
  }
  const bool plain = src.dtype_ == dtype_ && src.is_contiguous();
  if (to.is_cuda() && from.is_cuda()) {
    if (to.index != from.index) {
      copy_from(src.to(cpu_device), stream);
      return;
    }
    const CopyStream s(to, stream);
    cuda_copy_strided(data_ptr(), dtype_, strides_, src.data_ptr(), src.dtype_, src.strides_, shape_, s.get());
    s.finish();
    return;
  }
  if (to.is_cuda()) {  // host -> device: convert and pack on the host, then one transfer
    const Tensor packed = plain ? src : src.to(dtype_).contiguous();
    const Tensor target = is_contiguous() ? *this : empty(shape_, dtype_, to);
    const CopyStream s(to, stream);
    memcpy_async(target.data_ptr(), packed.data_ptr(), nbytes(), s.get());
    if (!is_contiguous()) copy_from(target, s.pointer());
    s.get().synchronize();  // `packed` may be a temporary
    return;
  }
  // device -> host: convert and pack on the device, then one transfer
  const CopyStream s(from, stream);
  Tensor packed = src;
  if (!plain) {
    packed = empty(shape_, dtype_, from);
    packed.copy_from(src, s.pointer());
  }
  const Tensor target = is_contiguous() ? *this : empty(shape_, dtype_, cpu_device);
  memcpy_async(target.data_ptr(), packed.data_ptr(), nbytes(), s.get());
  s.get().synchronize();
  if (!is_contiguous()) copy_host(*this, target);
}

void Tensor::fill_(double value, const Stream* stream) const {
  PTHRUN_CHECK(defined(), "fill of an undefined tensor");
  if (device().is_cuda()) {
    if (numel() == 0) return;
    const CopyStream s(device(), stream);
    cuda_fill(data_ptr(), dtype_, strides_, shape_, value, s.get());
    s.finish();
    return;
  }
  unsigned char element[8];
  store_element(element, dtype_, Scalar{false, 0, value});
  char* d = static_cast<char*>(data_ptr());
  const auto size = static_cast<int64_t>(itemsize());
  if (is_contiguous() && std::all_of(element, element + size, [&](unsigned char c) { return c == element[0]; })) {
    std::memset(d, element[0], static_cast<std::size_t>(numel() * size));  // zeros: a session's buffers
    return;
  }
  for_each_offset(shape_, strides_, strides_, [&](int64_t offset, int64_t) {
    std::memcpy(d + offset * size, element, static_cast<std::size_t>(size));
  });
}

}  // namespace pthrun
