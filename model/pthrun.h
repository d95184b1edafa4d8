// pthrun's C++ API in one include: open a checkpoint, build the model, run sessions over it.
//
//   #include <pthrun.h>
//
//   auto model = pthrun::Gpt2Model::load("model.pth");          // cuda:0 if present, else CPU
//   pthrun::Tokenizer tokenizer = pthrun::Tokenizer::load_default();
//   pthrun::GenerationOptions options;
//   options.max_new_tokens = 30;
//   options.sampling.temperature = 0.8f;
//   options.stop_token = tokenizer.eot_id();
//   pthrun::GenerationResult result = pthrun::generate(model, {tokenizer.encode("Hello")}, options);
//   std::cout << tokenizer.decode(result.tokens[0]) << "\n";
//
// The model is immutable and shared; a Session (model/session.h) holds a KV cache of several
// independent slots and is what generates: several sessions may run one model, one thread each.
// With CMake: find_package(pthrun REQUIRED) and target_link_libraries(app PRIVATE pthrun::model
// pthrun::tokenizer). Errors are thrown as pthrun::Error with a message for people; out of
// memory as pthrun::OutOfMemory. Beyond this: Checkpoint (loader/checkpoint.h) reads any
// checkpoint's tensors, load_tensors (loader/stream_loader.h) streams them into buffers of
// your own, device_allocator (runtime/allocator.h) gives the allocator's statistics.
#pragma once

#include "loader/checkpoint.h"
#include "model/generate.h"
#include "model/gpt2.h"
#include "model/session.h"
#include "model/tokenizer.h"
#include "runtime/allocator.h"
#include "runtime/error.h"
