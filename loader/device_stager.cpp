#include "loader/device_stager.h"

#include "runtime/error.h"

#if PTHRUN_WITH_CUDA
#include <cuda_runtime.h>

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "loader/device_scatter.h"
#include "runtime/cuda_check.h"
#include "runtime/stream.h"
#endif

namespace pthrun {

#if PTHRUN_WITH_CUDA

namespace {

constexpr std::size_t kBuffers = 4;

// Page-locked host memory, so that uploads from it are asynchronous DMA.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t bytes) {
    PTHRUN_CUDA_CHECK(cudaHostAlloc(&data_, bytes, cudaHostAllocPortable));
  }
  PinnedBuffer(PinnedBuffer&& other) noexcept : data_(std::exchange(other.data_, nullptr)) {}
  PinnedBuffer& operator=(PinnedBuffer&&) = delete;
  ~PinnedBuffer() {
    if (data_) PTHRUN_CUDA_WARN(cudaFreeHost(data_));
  }
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
};

}  // namespace

struct DeviceStager::State {
  struct PerDevice {
    Stream stream;
    Allocation bounce;  // for non-contiguous destinations, allocated on first need
  };

  std::size_t chunk = 0;
  std::vector<PinnedBuffer> buffers;
  std::vector<Event> events;       // one per buffer, on the bound device
  std::vector<bool> in_flight;     // the buffer's event was recorded after uploads
  std::size_t next = 0;
  std::size_t current = 0;         // the buffer last staged
  DType staged_dtype = DType::f32;
  std::optional<Device> bound;     // the device whose stream the events follow
  std::map<int, PerDevice> devices;

  ~State() {
    // Buffers and the bounce must not be freed under a running copy.
    for (auto& [index, d] : devices) PTHRUN_CUDA_WARN(cudaStreamSynchronize(static_cast<cudaStream_t>(d.stream.native())));
  }

  PerDevice& bind(Device device) {
    if (bound && *bound == device) return devices.at(device.index);
    if (bound) PTHRUN_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(devices.at(bound->index).stream.native())));
    set_current_device(device);
    if (!devices.count(device.index)) {
      // Destinations may still be written by earlier work (a fill on the default stream):
      // the copy stream does not wait on other streams, so start from an idle device.
      PTHRUN_CUDA_CHECK(cudaDeviceSynchronize());
      devices.emplace(device.index, PerDevice{Stream::create(device), Allocation()});
    }
    events.clear();
    for (std::size_t i = 0; i < buffers.size(); ++i) events.push_back(Event::create(device));
    in_flight.assign(buffers.size(), false);
    bound = device;
    return devices.at(device.index);
  }
};

DeviceStager::DeviceStager(std::size_t staging_bytes) : state_(std::make_unique<State>()) {
  const std::size_t per_buffer = staging_bytes / kBuffers / 8 * 8;
  state_->chunk = std::max<std::size_t>(per_buffer, 8);
  for (std::size_t i = 0; i < kBuffers; ++i) state_->buffers.emplace_back(state_->chunk);
  state_->in_flight.assign(kBuffers, false);
}

DeviceStager::~DeviceStager() = default;

std::size_t DeviceStager::chunk_bytes() const { return state_->chunk; }

void DeviceStager::stage(const void* src_at_first, const ViewLayout& src, DType dst_dtype, int64_t first,
                         int64_t count) {
  State& s = *state_;
  PTHRUN_ASSERT(static_cast<std::size_t>(count) * itemsize(dst_dtype) <= s.chunk);
  const std::size_t slot = s.next;
  s.next = (s.next + 1) % s.buffers.size();
  if (s.in_flight[slot]) {
    s.events[slot].synchronize();
    s.in_flight[slot] = false;
  }
  const ViewLayout packed{src.shape, contiguous_strides(src.shape), dst_dtype};
  copy_elements(src_at_first, src, s.buffers[slot].data(), packed, first, count);
  s.current = slot;
  s.staged_dtype = dst_dtype;
}

void DeviceStager::upload(const Tensor& dst, int64_t first, int64_t count) {
  State& s = *state_;
  PTHRUN_ASSERT(dst.dtype() == s.staged_dtype && dst.device().is_cuda());
  State::PerDevice& d = s.bind(dst.device());
  auto stream = static_cast<cudaStream_t>(d.stream.native());
  const std::size_t size = dst.itemsize();
  const std::size_t bytes = static_cast<std::size_t>(count) * size;
  const void* staged = s.buffers[s.current].data();
  if (dst.is_contiguous()) {
    char* to = static_cast<char*>(dst.data_ptr()) + static_cast<std::size_t>(first) * size;
    PTHRUN_CUDA_CHECK(cudaMemcpyAsync(to, staged, bytes, cudaMemcpyHostToDevice, stream));
    return;
  }
  if (!d.bounce) d.bounce = device_allocator(dst.device()).allocate(s.chunk, 0);
  PTHRUN_CUDA_CHECK(cudaMemcpyAsync(d.bounce.get(), staged, bytes, cudaMemcpyHostToDevice, stream));
  // The bounce is reused by the next chunk's copy, which the stream orders after this kernel.
  scatter_elements_async(dst.data_ptr(), dst.dtype(), dst.shape(), dst.strides(), first, count, d.bounce.get(), stream);
}

void DeviceStager::done() {
  State& s = *state_;
  if (!s.bound) return;  // nothing was uploaded from this buffer
  s.events[s.current].record(s.devices.at(s.bound->index).stream);
  s.in_flight[s.current] = true;
}

void DeviceStager::finish() {
  for (auto& [index, d] : state_->devices) d.stream.synchronize();
  state_->in_flight.assign(state_->buffers.size(), false);
}

#else  // no CUDA: GPU destinations cannot exist, but say so clearly if asked.

struct DeviceStager::State {};

DeviceStager::DeviceStager(std::size_t) {
  throw Error("loading into a GPU destination, but pthrun was built without CUDA");
}
DeviceStager::~DeviceStager() = default;
std::size_t DeviceStager::chunk_bytes() const { return 0; }
void DeviceStager::stage(const void*, const ViewLayout&, DType, int64_t, int64_t) {}
void DeviceStager::upload(const Tensor&, int64_t, int64_t) {}
void DeviceStager::done() {}
void DeviceStager::finish() {}

#endif

}  // namespace pthrun
