#include "runtime/allocator.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "runtime/alloc_config.h"
#include "runtime/caching_allocator.h"
#include "runtime/error.h"
#include "runtime/memory_backend.h"

namespace pthrun {

Allocation::Allocation(Allocation&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      owner_(std::exchange(other.owner_, nullptr)),
      block_(std::exchange(other.block_, nullptr)) {}

Allocation& Allocation::operator=(Allocation&& other) noexcept {
  if (this != &other) {
    reset();
    ptr_ = std::exchange(other.ptr_, nullptr);
    size_ = std::exchange(other.size_, 0);
    owner_ = std::exchange(other.owner_, nullptr);
    block_ = std::exchange(other.block_, nullptr);
  }
  return *this;
}

void Allocation::reset() noexcept {
  if (owner_) owner_->release(block_);
  ptr_ = nullptr;
  size_ = 0;
  owner_ = nullptr;
  block_ = nullptr;
}

#if !PTHRUN_WITH_CUDA
std::unique_ptr<MemoryBackend> make_cuda_backend(Device device) {
  throw Error(str("device ", device.to_string(), " requested, but pthrun was built without CUDA"));
}
std::unique_ptr<Allocator> make_cuda_async_allocator(Device device, const AllocatorConfig&) {
  throw Error(str("device ", device.to_string(), " requested, but pthrun was built without CUDA"));
}
#else
std::unique_ptr<Allocator> make_cuda_async_allocator(Device device, const AllocatorConfig& config);
#endif

std::unique_ptr<Allocator> make_allocator(Device device, const AllocatorConfig& config) {
  if (device.is_cpu()) {
    PTHRUN_CHECK(config.mode != AllocatorMode::async,
                 "PTHRUN_ALLOC_CONF mode:async needs a CUDA device; the CPU uses caching or nocache");
    return std::make_unique<CachingAllocator>(std::make_unique<HostBackend>(), config);
  }
  PTHRUN_CHECK(device.index < cuda_device_count(), "device ", device.to_string(), " does not exist: ",
               cuda_device_count(), " CUDA device(s) present");
  if (config.mode == AllocatorMode::async) return make_cuda_async_allocator(device, config);
  return std::make_unique<CachingAllocator>(make_cuda_backend(device), config);
}

namespace {

// The allocators of the process and the settings they are made with. Never destroyed: tensors
// held by other statics may be freed after main returns.
struct Registry {
  std::mutex mutex;
  std::map<std::pair<int, int>, std::unique_ptr<Allocator>> allocators;
  std::optional<AllocatorConfig> config;

  const AllocatorConfig& settings() {
    if (!config) config = AllocatorConfig::from_env();
    return *config;
  }
};

Registry& registry() {
  static auto* r = new Registry;
  return *r;
}

}  // namespace

Allocator& device_allocator(Device device) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto key = std::make_pair(static_cast<int>(device.type), device.index);
  auto it = r.allocators.find(key);
  if (it == r.allocators.end()) it = r.allocators.emplace(key, make_allocator(device, r.settings())).first;
  return *it->second;
}

void configure_allocators(const AllocatorConfig& config) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (!r.allocators.empty() && r.settings().to_string() != config.to_string())
    throw Error(str("the allocator settings cannot change once memory has been allocated (", r.settings().to_string(),
                    " in use, ", config.to_string(), " asked)"));
  r.config = config;
}

AllocatorConfig allocator_config() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return r.settings();
}

}  // namespace pthrun
