// Reading config.json (Hugging Face's GPT2Config.to_json_file) and nanoGPT's model_args.
#include "model/config_file.h"

#include <filesystem>

#include "runtime/error.h"
#include "runtime/file_util.h"
#include "runtime/json.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

// Hugging Face's config.json files are a few KiB; one far larger is not one.
constexpr std::size_t kMaxConfigBytes = std::size_t(1) << 20;

// HF's names for the activation (transformers' ACT2FN): the tanh approximation under several
// names, the exact form as "gelu".
std::optional<Activation> activation_named(const std::string& name) {
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::gelu_tanh;
  if (name == "gelu" || name == "gelu_python") return Activation::gelu_erf;
  return std::nullopt;
}

std::optional<int64_t> optional_int(const JsonValue& config, const char* key) {
  const JsonValue* value = json_find(config, key);
  if (!value || value->is_null()) return std::nullopt;
  return json_int(config, key);
}

ConfigFile parse_config_json(const JsonValue& config, const std::string& path) {
  PTHRUN_CHECK(config.is_object(), "expected a JSON object, found ", json_describe(config));
  ConfigFile file;
  file.source = path;
  file.layers = optional_int(config, "n_layer");
  file.heads = optional_int(config, "n_head");
  if (!file.heads) file.heads = optional_int(config, "num_attention_heads");
  file.channels = optional_int(config, "n_embd");
  file.context = optional_int(config, "n_positions");
  if (!file.context) file.context = optional_int(config, "n_ctx");
  file.vocab_size = optional_int(config, "vocab_size");
  if (json_find(config, "layer_norm_epsilon")) file.layernorm_eps = json_double(config, "layer_norm_epsilon");
  if (json_find(config, "activation_function")) {
    const std::string& name = json_string(config, "activation_function");
    file.activation = activation_named(name);
    PTHRUN_CHECK(file.activation, "\"activation_function\": expected gelu_new, gelu_pytorch_tanh, gelu_fast or gelu, "
                                  "found ", in_quotes(name));
  }
  if (json_find(config, "tie_word_embeddings")) file.tied_head = json_bool(config, "tie_word_embeddings");
  // Variants of GPT-2's attention and MLP that pthrun does not compute: refused, not ignored.
  if (const JsonValue* v = json_find(config, "scale_attn_by_inverse_layer_idx"); v && !v->is_null())
    PTHRUN_CHECK(!json_bool(*v), "\"scale_attn_by_inverse_layer_idx\": true is not supported (expected false)");
  if (const JsonValue* v = json_find(config, "scale_attn_weights"); v && !v->is_null())
    PTHRUN_CHECK(json_bool(*v), "\"scale_attn_weights\": false is not supported (expected true)");
  if (const std::optional<int64_t> inner = optional_int(config, "n_inner"); inner && file.channels)
    PTHRUN_CHECK(*inner == 4 * *file.channels, "\"n_inner\": expected 4 x n_embd = ", 4 * *file.channels, ", found ",
                 *inner);
  return file;
}

// model_args values are plain Python ints and bools.
std::optional<int64_t> model_arg_int(const Value& args, const char* key) {
  const Value* value = args.find(key);
  if (!value || value->kind() == Value::Kind::none) return std::nullopt;
  PTHRUN_CHECK(value->kind() == Value::Kind::integer, "model_args[", in_quotes(key), "]: expected an integer, found a ",
               kind_name(value->kind()));
  return value->as_int();
}

}  // namespace

std::optional<ConfigFile> read_config_json_beside(const std::string& checkpoint_path) {
  std::filesystem::path path(checkpoint_path);
  std::error_code error;
  path = std::filesystem::is_directory(path, error) ? path / "config.json" : path.parent_path() / "config.json";
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  const std::string name = path.string();
  const std::string text = read_file(name, kMaxConfigBytes);
  return with_context({name}, [&] { return parse_config_json(parse_json(text), name); });
}

std::optional<ConfigFile> read_model_args(const Value& root, const std::string& checkpoint_path) {
  if (root.kind() != Value::Kind::dict) return std::nullopt;
  const Value* args = root.find("model_args");
  if (!args || args->kind() != Value::Kind::dict) return std::nullopt;
  ConfigFile file;
  file.source = checkpoint_path + ": model_args";
  file.nanogpt = true;
  with_context({checkpoint_path, "entry model_args"}, [&] {
    file.layers = model_arg_int(*args, "n_layer");
    file.heads = model_arg_int(*args, "n_head");
    file.channels = model_arg_int(*args, "n_embd");
    file.context = model_arg_int(*args, "block_size");
    file.vocab_size = model_arg_int(*args, "vocab_size");
    if (const Value* bias = args->find("bias")) {
      PTHRUN_CHECK(bias->kind() == Value::Kind::boolean, "model_args[\"bias\"]: expected True or False, found a ",
                   kind_name(bias->kind()));
      file.biases = bias->as_bool();
    }
  });
  // nanoGPT's model: nn.GELU() (exact), nn.LayerNorm's default epsilon, lm_head tied to wte.
  file.activation = Activation::gelu_erf;
  file.layernorm_eps = 1e-5;
  file.tied_head = true;
  return file;
}

void apply_config_file(Gpt2Config& c, const ConfigFile& file) {
  auto agree = [&](const std::optional<int64_t>& stated, int64_t found, const char* field, const char* what) {
    PTHRUN_CHECK(!stated || *stated == found, file.source, ": ", field, " is ", *stated, ", but the state dict has ",
                 what, " ", found);
  };
  agree(file.layers, c.layers, "n_layer", "blocks:");
  agree(file.channels, c.channels, "n_embd", "width");
  agree(file.context, c.context, file.nanogpt ? "block_size" : "n_positions", "positions:");
  agree(file.vocab_size, c.vocab_size, "vocab_size", "token embeddings:");
  if (file.layernorm_eps) {
    PTHRUN_CHECK(*file.layernorm_eps > 0 && *file.layernorm_eps < 1, file.source,
                 ": layer_norm_epsilon must lie in (0, 1), found ", *file.layernorm_eps);
    c.layernorm_eps = static_cast<float>(*file.layernorm_eps);
  }
  if (file.activation) c.activation = *file.activation;
  if (file.tied_head) c.tied_head = *file.tied_head;
}

}  // namespace pthrun
