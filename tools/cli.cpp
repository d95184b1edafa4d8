#include "tools/cli.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "runtime/error.h"

namespace pthrun::cli {

namespace {

// The app for `command`, its options declared; `run` receives what runs it.
std::unique_ptr<CLI::App> make_app(const Command& command, RunFunction* run) {
  auto app = std::make_unique<CLI::App>(command.summary, str("pthrun ", command.name));
  // The last occurrence of an option wins, as with most command-line tools; options that
  // collect every occurrence (vectors) say so themselves.
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // Unknown arguments are reported by parse_command, in one line of its own.
  app->allow_extras();
  app->set_help_flag();  // --help is answered before parsing (main.cpp)
  RunFunction defined = command.define(*app);
  for (CLI::Option* option : app->get_options())
    if (option->get_expected_max() == 0) option->disable_flag_override();  // "--json=1" is a mistake
  if (run) *run = std::move(defined);
  return app;
}

const CLI::Option* find_option(const CLI::App& app, std::string_view name) {
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& long_name : option->get_lnames())
      if (name == "--" + long_name || name == long_name) return option;
    for (const std::string& short_name : option->get_snames())
      if (name == "-" + short_name || name == short_name) return option;
  }
  return nullptr;
}

std::string option_name(const CLI::Option& option) {
  if (!option.get_lnames().empty()) return "--" + option.get_lnames().front();
  if (!option.get_snames().empty()) return "-" + option.get_snames().front();
  return option.get_name();
}

// CLI11's message for `error`, in pthrun's words where they read better.
std::string usage_message(const CLI::App& app, const char* command, const CLI::ParseError& error) {
  const std::string what = error.what();
  const std::string name = what.substr(0, what.find(':'));
  if (const CLI::Option* option = find_option(app, name); option && what.find(':') != std::string::npos) {
    if (dynamic_cast<const CLI::ValidationError*>(&error) || dynamic_cast<const CLI::ConversionError*>(&error))
      return str("option ", option_name(*option), what.substr(name.size()));
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) && what.ends_with(" missing"))
      return str("option ", option_name(*option), " needs a value (", option->get_type_name(), ")");
  }
  if (what.find("disallowed flag override") != std::string::npos) {
    const CLI::Option* option = find_option(app, what.substr(0, what.find(' ')));
    return str("option ", option ? option_name(*option) : what.substr(0, what.find(' ')), " takes no value");
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error)) {  // "CKPT is required"
    const std::string missing = what.substr(0, what.find(' '));
    for (const CLI::Option* option : app.get_options())
      if (option->get_positional() && option->get_name() == missing)
        return str("missing ", option->get_description(), " (", missing, ") for 'pthrun ", command, "'");
    if (const CLI::Option* option = find_option(app, missing)) {
      const std::string flag = option->get_snames().empty() ? option_name(*option) : "-" + option->get_snames().front();
      return str("missing ", flag, " ", option->get_type_name(), " (", option->get_description(), ")");
    }
  }
  return what;
}

}  // namespace

RunFunction parse_command(const Command& command, const std::vector<std::string>& args) {
  RunFunction run;
  std::unique_ptr<CLI::App> app = make_app(command, &run);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw UsageError(usage_message(*app, command.name, e));
  }
  for (const std::string& extra : app->remaining()) {
    if (extra == "--") continue;
    if (extra.size() > 1 && extra[0] == '-' && !(extra[1] >= '0' && extra[1] <= '9'))
      throw UsageError(str("unknown option '", extra.substr(0, extra.find('=')), "' for 'pthrun ", command.name, "'"));
    throw UsageError(str("unexpected argument '", extra, "' for 'pthrun ", command.name, "'"));
  }
  return run;
}

std::string command_help(const Command& command) {
  std::unique_ptr<CLI::App> app = make_app(command, nullptr);
  std::string synopsis;
  for (const CLI::Option* option : app->get_options())
    if (option->get_positional()) synopsis += str(" ", option->get_required() ? option->get_name() : str("[", option->get_name(), "]"));
  bool has_options = false;
  for (const CLI::Option* option : app->get_options()) has_options |= !option->get_positional();
  std::string out = str("usage: pthrun ", command.name, has_options ? " [options]" : "", synopsis, "\n\n",
                        command.summary, "\n");
  if (command.details) out += str("\n", command.details, "\n");
  if (has_options) out += "\noptions:\n";
  for (const CLI::Option* option : app->get_options()) {
    if (option->get_positional()) continue;
    const auto& shorts = option->get_snames();
    const auto& longs = option->get_lnames();
    std::string left = shorts.empty() ? "      " : str("  -", shorts.front(), ", ");
    if (!longs.empty()) left += "--" + longs.front();
    if (option->get_expected_max() != 0) left += " " + option->get_type_name();
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    out += left + option->get_description() + "\n";
  }
  out += "  -h, --help                show this help\n";
  return out;
}

CLI::Validator integer_in(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        int64_t value = 0;
        auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || err == std::errc::invalid_argument || end != text.data() + text.size())
          return str("expected an integer, got '", text, "'");
        if (err != std::errc() || value < min || value > max)
          return str(text, " is out of range [", min, ", ", max, "]");
        return {};
      },
      "");
}

CLI::Validator number_in(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value))
          return str("expected a number, got '", text, "'");
        if (value < min || value > max) return str(value, " is out of range [", min, ", ", max, "]");
        return {};
      },
      "");
}

CLI::Validator one_of(std::vector<std::string> choices) {
  return CLI::Validator(
      [choices](std::string& text) -> std::string {
        for (const std::string& choice : choices)
          if (text == choice) return {};
        std::string list;
        for (std::size_t i = 0; i < choices.size(); ++i)
          list += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
        return str("expected ", list, ", got '", text, "'");
      },
      "");
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

}  // namespace pthrun::cli
