// libFuzzer target: a whole file through Checkpoint::open (format detection, zip parsing
// cross-checked with libzip, the legacy stream, safetensors), then every tensor read back and
// the state dict looked for. The bytes go to a memfd, opened by its /proc path, so the loader
// maps it like any file. Built and run by tools/fuzz.sh.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "loader/checkpoint.h"
#include "loader/stream_loader.h"
#include "runtime/error.h"

namespace {

// One memfd for the whole run, rewritten for each input.
int input_fd() {
  static const int fd = ::memfd_create("pthrun-fuzz", 0);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const int fd = input_fd();
  if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const pthrun::Checkpoint ckpt = pthrun::Checkpoint::open(path);
    std::vector<pthrun::LoadRequest> requests;
    for (const pthrun::TensorInfo& t : ckpt.tensors()) {
      // Zero strides can describe huge views of tiny files: read the small ones only.
      if (t.nbytes() > (1u << 20)) continue;
      requests.push_back({t, pthrun::Tensor::empty(t.shape, t.dtype)});
    }
    pthrun::LoadOptions options;
    options.staging_bytes = 64;  // many chunks and windows
    pthrun::load_tensors(ckpt, requests, options);
    (void)ckpt.state_dict();
  } catch (const pthrun::Error&) {
  }
  return 0;
}
