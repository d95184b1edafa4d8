// The bounded JSON reader (limits enforced while parsing, byte offsets in every refusal), the
// typed reads, and the writer's valid UTF-8 whatever bytes it is given.
#include <doctest/doctest.h>

#include <cmath>

#include "runtime/error.h"
#include "runtime/json.h"

using namespace pthrun;

namespace {

std::string parse_error(std::string_view text, const JsonLimits& limits = {}) {
  try {
    parse_json(text, limits);
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("no error for " << text);
  return "";
}

}  // namespace

TEST_CASE("JSON: values, escapes, order and exact integers") {
  const JsonValue doc = parse_json(R"({"a": [1, -2.5e3, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00",
                            "big": 18446744073709551615, "neg": -9223372036854775808, "e": {}, "z": 1, "b": 2})");
  CHECK(json_array(doc, "a").size() == 5);
  CHECK(json_int(doc["a"][0]) == 1);
  CHECK(json_double(doc["a"][1]) == -2500.0);
  CHECK(json_bool(doc["a"][2]));
  CHECK(doc["a"][4].is_null());
  CHECK(json_string(doc, "s") == "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(json_uint(doc, "big") == UINT64_MAX);
  CHECK(json_int(doc, "neg") == INT64_MIN);
  CHECK(doc["e"].empty());
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"a", "s", "big", "neg", "e", "z", "b"});  // the text's order
  CHECK(json_find(doc, "missing") == nullptr);
  CHECK_THROWS_WITH(json_at(doc, "missing"), "missing key 'missing'");
  CHECK_THROWS_WITH(json_int(doc, "s"), "'s': expected an integer within 64 bits, found a string");
  CHECK_THROWS_WITH(json_int(doc["a"][1]), "expected an integer within 64 bits, found -2500");
  CHECK_THROWS_WITH(json_int(doc, "big"), "'big': expected an integer within 64 bits, found 18446744073709551615");
  CHECK_THROWS_WITH(json_uint(doc, "neg"),
                    doctest::Contains("expected a non-negative integer within 64 bits, found -9223372036854775808"));
  // Beyond 64 bits: kept as a double, refused by the integer reads, and printed short.
  const JsonValue huge = parse_json("[99999999999999999999, 1e300]");
  CHECK_THROWS_WITH(json_int(huge[0]), "expected an integer within 64 bits, found 1e+20");
  CHECK_THROWS_WITH(json_uint(huge[1]), "expected a non-negative integer within 64 bits, found 1e+300");
}

TEST_CASE("JSON: malformed and hostile input is refused with its byte offset") {
  CHECK(parse_error("{\"a\": }") ==
        "invalid JSON at byte 6: syntax error while parsing value - unexpected '}'; "
        "expected '[', '{', or a literal");
  CHECK(parse_error("[1, ").find("invalid JSON at byte 4: ") == 0);
  CHECK(parse_error("\"\xff\"").find("invalid JSON at byte 1: ") == 0);
  CHECK(parse_error("\"\xff\"").find("ill-formed UTF-8") != std::string::npos);
  CHECK(parse_error("\"\\ud800\"").find("surrogate") != std::string::npos);
  CHECK(parse_error("01").find("invalid JSON at byte 1") == 0);
  CHECK(parse_error("[1] x").find("invalid JSON at byte 4") == 0);
  CHECK(parse_error("\"a\nb\"").find("control character U+000A") != std::string::npos);
  CHECK(parse_error(std::string(100000, '[')).find("nesting deeper than 128") != std::string::npos);
  CHECK(parse_error("[]", JsonLimits{.max_bytes = 1}).find("exceeds the limit") != std::string::npos);
  CHECK(parse_error(R"({"a": 1, "b": 2, "a": 3})") == "invalid JSON at byte 19: key 'a' appears twice");
  // A number too large for a double, a million digits: the message quotes it cut short.
  const std::string overflow = parse_error("[" + std::string(1000000, '9') + "]");
  CHECK(overflow.find("invalid JSON at byte 1000000: number overflow parsing '9999") == 0);
  CHECK(overflow.find("... (1000000 bytes)") != std::string::npos);
  CHECK(overflow.size() < 200);
  // An unterminated string of a megabyte, likewise.
  CHECK(parse_error("\"" + std::string(1000000, 'x')).size() < 300);
}

TEST_CASE("JSON: limits are enforced while parsing") {
  JsonLimits small;
  small.max_items = 8;
  CHECK(parse_json("{\"shape\": [1, 2, 3, 4, 5, 6, 7, 8]}", small)["shape"].size() == 8);
  CHECK(parse_error("{\"shape\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}", small) ==
        "invalid JSON at byte 36: array 'shape' has more than 8 items");
  CHECK(parse_error("[[], [], [], [], [], [], [], [], []]", small) ==
        "invalid JSON at byte 33: an array has more than 8 items");
  small.max_members = 2;
  CHECK(parse_error(R"({"a": 1, "b": 2, "c": 3})", small).find("an object of more than 2 members") !=
        std::string::npos);
  small.max_string_bytes = 4;
  CHECK(parse_error(R"(["abcde"])", small).find("a string of 5 bytes, more than the limit of 4") != std::string::npos);
  CHECK(parse_error(R"({"abcde": 1})", small).find("a key of 5 bytes") != std::string::npos);
  // The memory the value would take: a text of empty arrays costs far more than its bytes.
  JsonLimits memory;
  memory.memory_base = 1 << 20;
  memory.memory_per_byte = 4;
  std::string arrays = "[";
  for (int i = 0; i < 200000; ++i) arrays += "[],";
  arrays += "[]]";
  const std::string expensive = parse_error(arrays, memory);
  CHECK(expensive.find("bytes of memory") != std::string::npos);
  CHECK(expensive.find("invalid JSON at byte 16") == 0);  // refused a quarter of the way in
  // Many members: duplicates are still found (through a set past the first few).
  std::string members = "{";
  for (int i = 0; i < 1000; ++i) members += "\"k" + std::to_string(i) + "\": 0, ";
  CHECK(parse_json(members + "\"end\": 0}").size() == 1001);
  CHECK(parse_error(members + "\"k500\": 1}").find("key 'k500' appears twice") != std::string::npos);
}

TEST_CASE("JSON writer: valid UTF-8 JSON whatever bytes a string holds") {
  JsonWriter out;
  out.begin_object().key("name").value("a\"b\n").key("n").value(int64_t{-3}).key("u").value(UINT64_MAX)
      .key("x").value(0.25).key("nan").value(std::nan("")).key("list").begin_array().value(true).null()
      .begin_object().end_object().end_array().end_object();
  CHECK(out.text() == R"({"name":"a\"b\n","n":-3,"u":18446744073709551615,"x":0.25,"nan":null,"list":[true,null,{}]})");
  const JsonValue back = parse_json(out.text());
  CHECK(json_string(back, "name") == "a\"b\n");
  CHECK(json_quote(std::string("\x01", 1)) == "\"\\u0001\"");
  // Invalid UTF-8 becomes U+FFFD; terminal controls (ESC, C1, bidi overrides) are escaped.
  CHECK(json_quote("a\xff"
                   "b") ==
        "\"a\xef\xbf\xbd"
        "b\"");
  CHECK(json_quote("\x1b]0;title\x07") == "\"\\u001b]0;title\\u0007\"");
  CHECK(json_quote("\xc2\x9b"
                   "2J \xe2\x80\xae") == "\"\\u009b2J \\u202e\"");
  CHECK(json_string(parse_json(json_quote("x\xc0y\x7f\xe2\x82"))) == "x\xef\xbf\xbdy\x7f\xef\xbf\xbd\xef\xbf\xbd");
}
