// The C++ API in use: continue a prompt with a checkpoint.
//
//   example_generate MODEL.pth HEADS "prompt text" N
#include <pthrun.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s CKPT HEADS PROMPT N\n", argv[0]);
    return 2;
  }
  try {
    pthrun::ModelOptions options;
    options.heads = std::atoi(argv[2]);
    const auto model = pthrun::Gpt2Model::load(argv[1], options);
    pthrun::Tokenizer tokenizer = pthrun::Tokenizer::load_default();
    pthrun::GenerationOptions generation;
    generation.max_new_tokens = std::atoi(argv[4]);
    generation.stop_token = tokenizer.eot_id();
    pthrun::GenerationResult result = pthrun::generate(model, {tokenizer.encode(argv[3])}, generation);
    std::printf("%s\n", tokenizer.decode(result.tokens[0]).c_str());
    const pthrun::AllocatorStats stats = pthrun::device_allocator(model->device()).stats();
    std::printf("tokens %zu, peak allocated %lld bytes\n", result.tokens[0].size(),
                static_cast<long long>(stats.allocated_bytes[pthrun::all_pools].peak));
  } catch (const pthrun::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
