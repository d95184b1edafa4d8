#include "model/state_dict_layout.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>

#include "model/config_file.h"
#include "runtime/error.h"
#include "runtime/quote.h"

namespace pthrun {

namespace {

using kernels::WeightLayout;

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// Strips wrapper prefixes that every name carries, repeatedly ("module._orig_mod.").
std::string strip_common_prefix(std::vector<TensorInfo>& tensors) {
  std::string stripped;
  for (bool again = true; again && !tensors.empty();) {
    again = false;
    for (std::string_view prefix : {"_orig_mod.", "module."}) {
      if (std::all_of(tensors.begin(), tensors.end(), [&](const TensorInfo& t) { return starts_with(t.name, prefix); })) {
        for (TensorInfo& t : tensors) t.name.erase(0, prefix.size());
        stripped += prefix;
        again = true;
      }
    }
  }
  return stripped;
}

const TensorInfo* find(const std::vector<TensorInfo>& tensors, const std::string& name) {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

bool same_view(const TensorInfo& a, const TensorInfo& b) {
  return a.storage_key == b.storage_key && a.storage_offset == b.storage_offset && a.shape == b.shape &&
         a.strides == b.strides && a.dtype == b.dtype;
}

// The number after `prefix` in names like "trf_blocks.11.norm1.scale"; -1 when not such a name.
int64_t layer_index(const std::string& name, std::string_view prefix) {
  if (!starts_with(name, prefix)) return -1;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  int64_t index = -1;
  auto [after, err] = std::from_chars(begin, end, index);
  if (err != std::errc() || after == end || *after != '.') return -1;
  return index;
}

// Names of the layout's tensors, so that one table serves inference and planning.
struct Names {
  std::string wte, wpe, lnf_w, lnf_b, head, layer_prefix;
  // Per layer, after the prefix and index.
  std::string ln1_w, ln1_b, ln2_w, ln2_b, proj_w, proj_b, fc_w, fc_b, fc_proj_w, fc_proj_b;
  std::vector<std::string> qkv_w, qkv_b;  // one name (HF c_attn) or three (book q, k, v)
  std::vector<std::string> ignored_in_layer;
};

Names names_for(Naming naming, const std::string& hf_root) {
  if (naming == Naming::book)
    return {"tok_emb.weight", "pos_emb.weight", "final_norm.scale", "final_norm.shift", "out_head.weight",
            "trf_blocks.", "norm1.scale", "norm1.shift", "norm2.scale", "norm2.shift",
            "att.out_proj.weight", "att.out_proj.bias", "ff.layers.0.weight", "ff.layers.0.bias",
            "ff.layers.2.weight", "ff.layers.2.bias",
            {"att.W_query.weight", "att.W_key.weight", "att.W_value.weight"},
            {"att.W_query.bias", "att.W_key.bias", "att.W_value.bias"},
            {"att.mask"}};
  return {hf_root + "wte.weight", hf_root + "wpe.weight", hf_root + "ln_f.weight", hf_root + "ln_f.bias",
          "lm_head.weight", hf_root + "h.", "ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias",
          "attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
          "mlp.c_proj.weight", "mlp.c_proj.bias", {"attn.c_attn.weight"}, {"attn.c_attn.bias"},
          {"attn.bias", "attn.masked_bias"}};
}

std::string hf_root_of(const std::vector<TensorInfo>& tensors) {
  return find(tensors, "wte.weight") ? "" : "transformer.";
}

std::string list_names(const std::vector<TensorInfo>& tensors, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < tensors.size() && i < n; ++i) out += (i ? ", " : "") + printable(tensors[i].name, 64);
  return out;
}

// Tensors a state dict may hold that carry no weights: the causal masks (the book's att.mask,
// HF's attn.bias and attn.masked_bias, nanoGPT's attn.bias before torch 2), position_ids
// buffers, and any integer or bool buffer.
bool is_known_buffer(const TensorInfo& t, const Names& n) {
  if (!is_floating(t.dtype)) return true;
  if (t.name == "position_ids" || t.name.ends_with(".position_ids")) return true;
  const int64_t l = layer_index(t.name, n.layer_prefix);
  for (const std::string& buffer : n.ignored_in_layer)
    if (l >= 0 && t.name == str(n.layer_prefix, l, ".", buffer)) return true;
  return false;
}

// "a, b, c and 4 more": the first few names, escaped.
std::string name_list(const std::vector<std::string>& names, const std::string& prefix) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 4; ++i) out += (i ? ", " : "") + printable(prefix + names[i], 96);
  if (names.size() > 4) out += str(" and ", names.size() - 4, " more");
  return out;
}

// Hugging Face's Conv1D stores [in, out]; nanoGPT's nn.Linear stores [out, in] under the same
// names. The non-square matrices tell them apart (c_attn: [C, 3C] or [3C, C]; c_fc: [C, 4C] or
// [4C, C]); the square c_proj follows them. The book's names are nn.Linear's alone.
WeightLayout matrix_layout_from_shapes(Naming naming, const std::vector<TensorInfo>& tensors, const Names& n,
                                       int64_t C, const std::string& source) {
  if (naming == Naming::book) return WeightLayout::out_in;
  std::optional<WeightLayout> layout;
  for (const auto& [name, wide] : {std::pair{n.qkv_w[0], 3 * C}, std::pair{n.fc_w, 4 * C}}) {
    const TensorInfo* t = find(tensors, n.layer_prefix + "0." + name);
    if (!t || t->shape.size() != 2) continue;  // plan_load reports it
    std::optional<WeightLayout> this_one;
    if (t->shape == Shape{C, wide}) this_one = WeightLayout::in_out;
    if (t->shape == Shape{wide, C}) this_one = WeightLayout::out_in;
    if (!this_one) continue;
    PTHRUN_CHECK(!layout || *layout == *this_one, source, ": ", n.layer_prefix, "0.", name, " has shape ",
                 t->shape.to_string(), ", stored the other way round from ", n.layer_prefix, "0.", n.qkv_w[0]);
    layout = this_one;
  }
  return layout.value_or(WeightLayout::in_out);
}

}  // namespace

const char* naming_name(Naming naming) { return naming == Naming::book ? "book" : "Hugging Face"; }

WeightLayout matrix_layout_of(Naming naming) {
  return naming == Naming::book ? WeightLayout::out_in : WeightLayout::in_out;
}

std::vector<StateDictEntry> state_dict_entries(Naming naming, const Gpt2Config& c, const std::string& hf_root,
                                               std::optional<WeightLayout> layout) {
  const int64_t C = c.channels, V = c.vocab_size;
  const bool out_in = layout.value_or(matrix_layout_of(naming)) == WeightLayout::out_in;
  const Names n = names_for(naming, hf_root);
  auto matrix = [&](int64_t out, int64_t in) { return out_in ? Shape{out, in} : Shape{in, out}; };
  std::vector<StateDictEntry> entries = {
      {n.wte, {V, C}, [](const Gpt2Weights& w) { return w.wte; }},
      {n.wpe, {c.context, C}, [](const Gpt2Weights& w) { return w.wpe; }},
  };
  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = str(n.layer_prefix, l, ".");
    const auto i = static_cast<std::size_t>(l);
    auto layer = [i](Tensor Gpt2LayerWeights::*member) {
      return [i, member](const Gpt2Weights& w) { return w.layers[i].*member; };
    };
    entries.push_back({p + n.ln1_w, {C}, layer(&Gpt2LayerWeights::ln1_w)});
    entries.push_back({p + n.ln1_b, {C}, layer(&Gpt2LayerWeights::ln1_b)});
    if (n.qkv_w.size() == 1) {  // HF: c_attn is already the fused matrix
      entries.push_back({p + n.qkv_w[0], matrix(3 * C, C), layer(&Gpt2LayerWeights::qkv_w)});
      if (c.qkv_bias) entries.push_back({p + n.qkv_b[0], {3 * C}, layer(&Gpt2LayerWeights::qkv_b)});
    } else {  // book: q, k and v are the fused matrix's row blocks
      for (int64_t part = 0; part < 3; ++part) {
        const auto j = static_cast<std::size_t>(part);
        entries.push_back({p + n.qkv_w[j], {C, C}, [i, part, C](const Gpt2Weights& w) {
                             return w.layers[i].qkv_w.slice(0, part * C, (part + 1) * C);
                           }});
        if (c.qkv_bias)
          entries.push_back({p + n.qkv_b[j], {C}, [i, part, C](const Gpt2Weights& w) {
                               return w.layers[i].qkv_b.slice(0, part * C, (part + 1) * C);
                             }});
      }
    }
    entries.push_back({p + n.proj_w, matrix(C, C), layer(&Gpt2LayerWeights::proj_w)});
    entries.push_back({p + n.proj_b, {C}, layer(&Gpt2LayerWeights::proj_b)});
    entries.push_back({p + n.ln2_w, {C}, layer(&Gpt2LayerWeights::ln2_w)});
    entries.push_back({p + n.ln2_b, {C}, layer(&Gpt2LayerWeights::ln2_b)});
    entries.push_back({p + n.fc_w, matrix(4 * C, C), layer(&Gpt2LayerWeights::fc_w)});
    entries.push_back({p + n.fc_b, {4 * C}, layer(&Gpt2LayerWeights::fc_b)});
    entries.push_back({p + n.fc_proj_w, matrix(C, 4 * C), layer(&Gpt2LayerWeights::fc_proj_w)});
    entries.push_back({p + n.fc_proj_b, {C}, layer(&Gpt2LayerWeights::fc_proj_b)});
  }
  entries.push_back({n.lnf_w, {C}, [](const Gpt2Weights& w) { return w.lnf_w; }});
  entries.push_back({n.lnf_b, {C}, [](const Gpt2Weights& w) { return w.lnf_b; }});
  entries.push_back({n.head, {V, C}, [](const Gpt2Weights& w) { return w.head; }, c.tied_head});
  if (!c.biases) {  // nanoGPT's bias=False: the model's biases are zeros, the file has none
    const std::set<std::string> bias_names = {n.ln1_b, n.ln2_b, n.proj_b, n.fc_b, n.fc_proj_b};
    for (StateDictEntry& e : entries) {
      const int64_t l = layer_index(e.name, n.layer_prefix);
      const std::string local = l >= 0 ? e.name.substr(str(n.layer_prefix, l, ".").size()) : std::string();
      e.zero_filled = e.name == n.lnf_b || bias_names.count(local) > 0;
    }
  }
  return entries;
}

StateDictLayout read_layout(std::vector<TensorInfo> state_dict, const std::string& source,
                            const ConfigFile* config_file) {
  StateDictLayout layout;
  layout.source = source;
  layout.prefix = strip_common_prefix(state_dict);
  layout.tensors = std::move(state_dict);
  const auto& tensors = layout.tensors;
  PTHRUN_CHECK(!tensors.empty(), source, ": the state dict holds no tensors");

  if (find(tensors, "tok_emb.weight") || find(tensors, "trf_blocks.0.norm1.scale")) {
    layout.naming = Naming::book;
  } else if (find(tensors, "transformer.wte.weight") || find(tensors, "wte.weight")) {
    layout.naming = Naming::hf;
  } else {
    throw Error(str(source, " does not look like a GPT-2 state dict: expected tok_emb.weight (book "
                            "naming) or transformer.wte.weight (Hugging Face naming), found ",
                    list_names(tensors, 5), tensors.size() > 5 ? ", ..." : ""));
  }
  const Names n = names_for(layout.naming, hf_root_of(tensors));
  const TensorInfo* wte = find(tensors, n.wte);
  const TensorInfo* wpe = find(tensors, n.wpe);
  PTHRUN_CHECK(wte && wte->shape.size() == 2, source, ": ", n.wte,
               wte ? str(" has shape ", wte->shape.to_string(), ", expected [vocab, width]") : " is missing");
  PTHRUN_CHECK(wpe && wpe->shape.size() == 2, source, ": ", n.wpe,
               wpe ? str(" has shape ", wpe->shape.to_string(), ", expected [context, width]") : " is missing");

  layout.dtype = wte->dtype;
  Gpt2Config& c = layout.config;
  c.vocab_size = wte->shape[0];
  c.channels = wte->shape[1];
  c.context = wpe->shape[0];
  PTHRUN_CHECK(c.vocab_size > 0 && c.channels > 0 && c.context > 0, source, ": empty embedding ",
               n.wte, " ", wte->shape.to_string(), " or ", n.wpe, " ", wpe->shape.to_string());
  std::map<int64_t, const TensorInfo*> layers;  // a tensor of each block
  for (const TensorInfo& t : tensors)
    if (int64_t l = layer_index(t.name, n.layer_prefix); l >= 0) layers.emplace(l, &t);
  PTHRUN_CHECK(!layers.empty(), source, ": no transformer blocks (", n.layer_prefix, "N.*) found");
  // The block count comes from a name: checked against the blocks that have tensors before
  // anything is built per block, so "trf_blocks.1000000000000.x" cannot ask for 10^12 blocks.
  const auto [highest, named] = *layers.rbegin();
  if (highest >= static_cast<int64_t>(layers.size())) {
    int64_t gap = 0;
    while (layers.count(gap)) ++gap;
    throw Error(str(source, ": no tensors for block ", gap, " (", n.layer_prefix, gap, ".*), though ",
                    in_quotes(layout.prefix + named->name), " names block ", highest));
  }
  c.layers = highest + 1;
  layout.matrix_layout = matrix_layout_from_shapes(layout.naming, tensors, n, c.channels, source);
  // nanoGPT's bias=False drops every Linear and LayerNorm bias; its model_args say so, and so
  // does a first block without a LayerNorm bias.
  const bool has_ln_bias = find(tensors, n.layer_prefix + "0." + n.ln1_b) != nullptr;
  c.biases = config_file && config_file->biases ? *config_file->biases : has_ln_bias;
  c.qkv_bias = layout.naming == Naming::hf ? c.biases : find(tensors, n.layer_prefix + "0." + n.qkv_b[0]) != nullptr;
  const TensorInfo* head = find(tensors, n.head);
  c.tied_head = layout.naming == Naming::hf ? (!head || same_view(*head, *wte)) : (head && same_view(*head, *wte));
  if (config_file) apply_config_file(c, *config_file);
  return layout;
}

LoadPlan plan_load(const StateDictLayout& layout, bool allow_unused) {
  const Gpt2Config& c = layout.config;
  const std::string hf_root = hf_root_of(layout.tensors);
  const Names n = names_for(layout.naming, hf_root);
  std::vector<StateDictEntry> expected = state_dict_entries(layout.naming, c, hf_root, layout.matrix_layout);

  std::map<std::string, const TensorInfo*> by_name;
  for (const TensorInfo& t : layout.tensors) by_name.emplace(t.name, &t);
  std::vector<std::string> problems;
  std::set<std::string> used;
  LoadPlan plan;
  for (StateDictEntry& e : expected) {
    if (e.tied_to_embedding) {  // the embedding's bytes: welcome under this name, not needed
      used.insert(e.name);
      continue;
    }
    if (e.zero_filled) {
      plan.zeros_.push_back(std::move(e.weight));
      continue;
    }
    auto it = by_name.find(e.name);
    if (it == by_name.end()) {
      problems.push_back(str("missing ", layout.prefix, e.name));
      continue;
    }
    used.insert(e.name);
    const TensorInfo& t = *it->second;
    if (t.shape != e.shape)
      problems.push_back(str(layout.prefix, e.name, " has shape ", t.shape.to_string(), ", expected ", e.shape.to_string()));
    else if (!is_floating(t.dtype))
      problems.push_back(str(layout.prefix, e.name, " has dtype ", dtype_name(t.dtype), ", expected a floating dtype"));
    else
      plan.entries_.push_back({t, std::move(e.weight)});
  }
  std::vector<std::string> buffers, unused;  // skipped: known buffers; other tensors (--allow-unused)
  for (const TensorInfo& t : layout.tensors) {
    if (used.count(t.name)) continue;
    if (is_known_buffer(t, n))
      buffers.push_back(t.name);
    else if (allow_unused)
      unused.push_back(t.name);
    else
      problems.push_back(str("unexpected ", layout.prefix, printable(t.name, 128), " (--allow-unused ignores it)"));
  }
  if (!problems.empty()) {
    std::string list;
    for (std::size_t i = 0; i < problems.size() && i < 12; ++i) list += (i ? "; " : "") + problems[i];
    if (problems.size() > 12) list += str("; and ", problems.size() - 12, " more");
    throw Error(str(layout.source, " does not match GPT-2 in ", naming_name(layout.naming), " naming (",
                    c.layers, " layers, width ", c.channels, "): ", list));
  }
  if (!buffers.empty())
    plan.notes_.push_back(str(layout.source, ": skipped ", buffers.size(),
                              buffers.size() > 1 ? " buffers that hold" : " buffer that holds", " no weights (",
                              name_list(buffers, layout.prefix), ")"));
  if (!unused.empty())
    plan.notes_.push_back(str(layout.source, ": ignored ", unused.size(), " unused tensor", unused.size() > 1 ? "s" : "",
                              " (--allow-unused): ", name_list(unused, layout.prefix)));
  return plan;
}

std::vector<LoadRequest> LoadPlan::requests(const Gpt2Weights& weights) const {
  std::vector<LoadRequest> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back({e.source, e.destination(weights)});
  return out;
}

std::vector<Tensor> LoadPlan::zero_filled(const Gpt2Weights& weights) const {
  std::vector<Tensor> out;
  for (const auto& destination : zeros_) out.push_back(destination(weights));
  return out;
}

std::vector<TensorInfo> LoadPlan::sources() const {
  std::vector<TensorInfo> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back(e.source);
  return out;
}

}  // namespace pthrun
