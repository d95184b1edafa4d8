// A stand-in for the CUDA backend that runs on the CPU, for testing the core's side of the
// plugin boundary without a GPU (test_cuda_plugin). Its "device" memory is host memory, its
// streams and events are tokens, its copies and fills run at once; it logs the calls that
// matter for ordering and can be told to fail like a GPU after a sticky error. It has no
// kernels but linear, which only records its arguments.
//
//   FakeCuda& fake = *fake_cuda();       // the plugin's own state (the test links the plugin)
//   fake.fail_frees = true;               // device_free and the event calls fail from now on
//   fake.log.clear(); ...; fake.log       // {"device_synchronize", "fill 0x10", "stream_synchronize 0x10"}
#pragma once

#include <cstddef>
#include <string>
#include <vector>

struct FakeCuda {
  bool fail_frees = false;        // device_free, event_create/record/query/synchronize fail
  int linear_path = 0;            // what linear reports (PthrunCudaLinearPath)
  bool fail_linear = false;       // linear fails as a failing cuBLASLt call would
  std::vector<std::string> log;   // device_synchronize, copy/fill/memcpy with their stream, stream_synchronize
  void* last_workspace = nullptr;  // the workspace linear was last given, and its size
  std::size_t last_workspace_bytes = 0;
  int streams_created = 0;
  std::vector<void*> lost;        // what failed frees did not free (the test frees it, for LeakSanitizer)
};

extern "C" FakeCuda* fake_cuda();
