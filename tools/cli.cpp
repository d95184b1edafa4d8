#include "tools/cli.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "runtime/error.h"

namespace pthrun::cli {

namespace {

const OptionSpec* find_option(const CommandSpec& spec, std::string_view name, bool is_short) {
  for (const OptionSpec& option : spec.options)
    if (is_short ? (option.short_name && name.size() == 1 && option.short_name == name[0])
                 : name == option.name)
      return &option;
  return nullptr;
}

}  // namespace

ParsedArgs parse_args(const CommandSpec& spec, const std::vector<std::string>& args) {
  ParsedArgs parsed;
  parsed.spec_ = &spec;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-' || (arg[1] >= '0' && arg[1] <= '9')) {
      parsed.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const bool is_short = arg[1] != '-';
    std::string_view body = std::string_view(arg).substr(is_short ? 1 : 2);
    std::optional<std::string> inline_value;
    if (std::size_t eq = body.find('='); !is_short && eq != std::string_view::npos) {
      inline_value = std::string(body.substr(eq + 1));
      body = body.substr(0, eq);
    }
    const OptionSpec* option = find_option(spec, body, is_short);
    if (!option)
      throw UsageError(str("unknown option '", arg, "' for 'pthrun ", spec.name, "'"));
    std::string value;
    if (option->value_name) {
      if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= args.size())
          throw UsageError(str("option --", option->name, " needs a value (", option->value_name, ")"));
        value = args[++i];
      }
    } else if (inline_value) {
      throw UsageError(str("option --", option->name, " takes no value"));
    }
    parsed.options_.emplace_back(option->name, std::move(value));
  }
  return parsed;
}

const std::string& ParsedArgs::positional(std::size_t i, const char* what) const {
  if (i >= positional_.size()) throw UsageError(str("missing ", what, " for 'pthrun ", spec_->name, "'"));
  return positional_[i];
}

void ParsedArgs::max_positional(std::size_t n) const {
  if (positional_.size() > n)
    throw UsageError(str("unexpected argument '", positional_[n], "' for 'pthrun ", spec_->name, "'"));
}

bool ParsedArgs::has(std::string_view name) const {
  for (const auto& [key, value] : options_)
    if (key == name) return true;
  return false;
}

std::optional<std::string> ParsedArgs::get(std::string_view name) const {
  std::optional<std::string> found;  // the last occurrence wins
  for (const auto& [key, value] : options_)
    if (key == name) found = value;
  return found;
}

std::vector<std::string> ParsedArgs::get_all(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : options_)
    if (key == name) values.push_back(value);
  return values;
}

std::string ParsedArgs::get_or(std::string_view name, std::string_view fallback) const {
  auto value = get(name);
  return value ? *value : std::string(fallback);
}

int64_t ParsedArgs::get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const {
  auto text = get(name);
  if (!text) return fallback;
  int64_t value = 0;
  auto [end, err] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (err != std::errc() || end != text->data() + text->size())
    throw UsageError(str("option --", name, ": expected an integer, got '", *text, "'"));
  if (value < min || value > max)
    throw UsageError(str("option --", name, ": ", value, " is out of range [", min, ", ", max, "]"));
  return value;
}

double ParsedArgs::get_double(std::string_view name, double fallback, double min, double max) const {
  auto text = get(name);
  if (!text) return fallback;
  char* end = nullptr;
  double value = std::strtod(text->c_str(), &end);
  if (text->empty() || end != text->c_str() + text->size() || !std::isfinite(value))
    throw UsageError(str("option --", name, ": expected a number, got '", *text, "'"));
  if (value < min || value > max)
    throw UsageError(str("option --", name, ": ", value, " is out of range [", min, ", ", max, "]"));
  return value;
}

std::vector<int64_t> parse_int_list(std::string_view text, std::string_view what) {
  std::vector<int64_t> values;
  while (true) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int64_t value = 0;
    auto [end, err] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || err != std::errc() || end != item.data() + item.size())
      throw UsageError(str(what, ": expected comma-separated integers, got '", item, "'"));
    values.push_back(value);
    if (comma == std::string_view::npos) return values;
    text = text.substr(comma + 1);
  }
}

std::vector<int64_t> ParsedArgs::get_int_list(std::string_view name) const {
  auto text = get(name);
  if (!text) return {};
  return parse_int_list(*text, str("option --", name));
}

std::string command_help(const CommandSpec& spec) {
  std::string out = str("usage: pthrun ", spec.name, spec.options.empty() ? "" : " [options]",
                        *spec.synopsis ? " " : "", spec.synopsis, "\n\n", spec.summary, "\n");
  if (spec.details) out += str("\n", spec.details, "\n");
  if (!spec.options.empty()) out += "\noptions:\n";
  for (const OptionSpec& option : spec.options) {
    std::string left = option.short_name ? str("  -", option.short_name, ", --", option.name)
                                         : str("      --", option.name);
    if (option.value_name) left += str(" ", option.value_name);
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    out += left + option.help + "\n";
  }
  out += "  -h, --help                show this help\n";
  return out;
}

}  // namespace pthrun::cli
