#include "runtime/storage.h"

namespace pthrun {

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, Device device, StreamId stream) {
  return allocate(nbytes, device_allocator(device), stream);
}

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, Allocator& allocator, StreamId stream) {
  std::shared_ptr<Storage> storage(new Storage);
  storage->allocation_ = allocator.allocate(nbytes, stream);
  storage->data_ = storage->allocation_.get();
  storage->nbytes_ = nbytes;
  storage->device_ = allocator.device();
  return storage;
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t nbytes, Device device,
                                         std::shared_ptr<const void> owner) {
  std::shared_ptr<Storage> storage(new Storage);
  storage->data_ = data;
  storage->nbytes_ = nbytes;
  storage->device_ = device;
  storage->owner_ = std::move(owner);
  return storage;
}

}  // namespace pthrun
