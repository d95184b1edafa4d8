#include "tools/text_release.h"

#include <algorithm>

#include "runtime/utf8.h"

namespace pthrun {

namespace {

// Whether `bytes` is the beginning of a valid sequence that more bytes could complete.
bool incomplete_sequence(std::string_view bytes) {
  const auto lead = static_cast<unsigned char>(bytes[0]);
  std::size_t need = 0;
  if (lead >= 0xC2 && lead <= 0xDF) need = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) need = 3;
  else if (lead >= 0xF0 && lead <= 0xF4) need = 4;
  if (need == 0 || bytes.size() >= need) return false;
  for (std::size_t i = 1; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    unsigned char low = 0x80, high = 0xBF;
    if (i == 1 && lead == 0xE0) low = 0xA0;   // no overlong three-byte forms
    if (i == 1 && lead == 0xED) high = 0x9F;  // no surrogates
    if (i == 1 && lead == 0xF0) low = 0x90;   // no overlong four-byte forms
    if (i == 1 && lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
    if (c < low || c > high) return false;
  }
  return true;
}

std::size_t count_chars(std::string_view valid_utf8) {
  return static_cast<std::size_t>(std::count_if(valid_utf8.begin(), valid_utf8.end(),
                                                [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::string sanitize_utf8(std::string_view bytes, bool final, std::size_t* consumed) {
  std::string out;
  std::size_t i = 0;
  while (i < bytes.size()) {
    const std::string_view rest = bytes.substr(i);
    if (const std::size_t n = utf8_sequence_length(rest); n > 0) {
      out.append(rest.substr(0, n));
      i += n;
    } else if (!final && incomplete_sequence(rest)) {
      break;
    } else {
      // One U+FFFD for the longest start of a sequence that breaks off (the "maximal subpart",
      // as Unicode recommends and Python and browsers decode).
      std::size_t skip = 1;
      for (std::size_t k = std::min<std::size_t>(rest.size(), 3); k > 1; --k)
        if (incomplete_sequence(rest.substr(0, k))) {
          skip = k;
          break;
        }
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += skip;
    }
  }
  if (consumed) *consumed = i;
  return out;
}

TextRelease::TextRelease(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string TextRelease::release(std::size_t bytes, bool final) {
  std::size_t consumed = 0;
  std::string text = sanitize_utf8(std::string_view(pending_).substr(0, bytes), final, &consumed);
  pending_.erase(0, consumed);
  released_chars_ += count_chars(text);
  return text;
}

TextRelease::Step TextRelease::add(std::string_view bytes) {
  pending_.append(bytes);
  // Everything released so far was no prefix of a stop string, so a match starts in pending_.
  std::size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, pending_.find(stop));
  if (first != std::string::npos) {
    Step step{release(first, /*final=*/true), true};
    pending_.clear();
    return step;
  }
  // Hold back the longest end of the text that could still grow into a stop string.
  std::size_t hold = 0;
  for (const std::string& stop : stops_)
    for (std::size_t k = std::min(stop.size() - 1, pending_.size()); k > hold; --k)
      if (std::string_view(pending_).ends_with(std::string_view(stop).substr(0, k))) {
        hold = k;
        break;
      }
  return {release(pending_.size() - hold, /*final=*/false), false};
}

std::string TextRelease::flush() {
  std::string text = release(pending_.size(), /*final=*/true);
  pending_.clear();
  return text;
}

}  // namespace pthrun
