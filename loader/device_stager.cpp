#include "loader/device_stager.h"

#include <cstdio>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "runtime/cuda_copy.h"
#include "runtime/error.h"
#include "runtime/pinned_buffer.h"
#include "runtime/stream.h"

namespace pthrun {

namespace {

constexpr std::size_t kBuffers = 4;

}  // namespace

struct DeviceStager::State {
  struct PerDevice {
    Stream stream;
    Allocation bounce;  // for non-contiguous destinations, allocated on first need
  };

  std::size_t chunk = 0;
  std::vector<PinnedBuffer> buffers;  // page-locked, so that uploads from them are asynchronous
  std::vector<Event> events;       // one per buffer, on the bound device
  std::vector<bool> in_flight;     // the buffer's event was recorded after uploads
  std::size_t next = 0;
  std::size_t current = 0;         // the buffer last staged
  DType staged_dtype = DType::f32;
  std::optional<Device> bound;     // the device whose stream the events follow
  std::map<int, PerDevice> devices;

  ~State() {
    // Buffers and the bounce must not be freed under a running copy.
    for (auto& [index, d] : devices) {
      try {
        d.stream.synchronize();
      } catch (const Error& e) {
        std::fprintf(stderr, "warning: %s\n", e.what());
      }
    }
  }

  PerDevice& bind(Device device) {
    if (bound && *bound == device) return devices.at(device.index);
    if (bound) devices.at(bound->index).stream.synchronize();
    if (!devices.count(device.index)) {
      // Destinations may still be written by earlier work on other streams: the copy stream
      // does not wait on them, so start from an idle device.
      synchronize_device(device);
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
  // Pinned for cuda:0, and usable with every device (CUDA's portable pinned memory).
  for (std::size_t i = 0; i < kBuffers; ++i) state_->buffers.emplace_back(state_->chunk, cuda_device(0));
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
  const std::size_t size = dst.itemsize();
  const std::size_t bytes = static_cast<std::size_t>(count) * size;
  const void* staged = s.buffers[s.current].data();
  if (dst.is_contiguous()) {
    char* to = static_cast<char*>(dst.data_ptr()) + static_cast<std::size_t>(first) * size;
    memcpy_async(to, staged, bytes, d.stream);
    return;
  }
  if (!d.bounce) {
    // From the destination's own allocator, so that its statistics show this chunk.
    const Allocation* owner = dst.storage()->allocation();
    Allocator& allocator = owner && owner->allocator() ? *owner->allocator() : device_allocator(dst.device());
    d.bounce = allocator.allocate(s.chunk, 0);
  }
  memcpy_async(d.bounce.get(), staged, bytes, d.stream);
  // The bounce is reused by the next chunk's copy, which the stream orders after this kernel.
  cuda_scatter(dst.data_ptr(), dst.dtype(), dst.strides(), dst.shape(), first, count, d.bounce.get(), d.stream);
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

}  // namespace pthrun
