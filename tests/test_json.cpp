#include <doctest/doctest.h>

#include <cmath>

#include "runtime/json.h"

using namespace pthrun;

TEST_CASE("JSON: values, escapes and exact integers") {
  Json doc = parse_json(R"({"a": [1, -2.5e3, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00",
                            "big": 18446744073709551615, "neg": -9223372036854775808, "e": {}})");
  CHECK(doc.at("a").items().size() == 5);
  CHECK(doc.at("a").items()[0].as_int() == 1);
  CHECK(doc.at("a").items()[1].as_double() == -2500.0);
  CHECK(doc.at("a").items()[2].as_bool());
  CHECK(doc.at("a").items()[4].is_null());
  CHECK(doc.at("s").as_string() == "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(doc.at("big").as_uint() == UINT64_MAX);
  CHECK(doc.at("neg").as_int() == INT64_MIN);
  CHECK(doc.at("e").members().empty());
  CHECK(doc.find("missing") == nullptr);
  CHECK_THROWS_WITH(doc.at("missing"), "missing key \"missing\"");
  CHECK_THROWS_WITH(doc.at("s").as_int(), "expected an integer, found a string");
  CHECK_THROWS_WITH(doc.at("a").items()[1].as_int(), doctest::Contains("within 64 bits"));
}

TEST_CASE("JSON: malformed and hostile input is refused with its byte offset") {
  CHECK_THROWS_WITH(parse_json("{\"a\": }"), "invalid JSON at byte 6: unexpected character '}'");
  CHECK_THROWS_WITH(parse_json("[1, "), doctest::Contains("unexpected end of text"));
  CHECK_THROWS_WITH(parse_json("\"\xff\""), doctest::Contains("invalid UTF-8"));
  CHECK_THROWS_WITH(parse_json("\"\\ud800\""), doctest::Contains("lone high surrogate"));
  CHECK_THROWS_WITH(parse_json("01"), doctest::Contains("unexpected text after the value"));
  CHECK_THROWS_WITH(parse_json("[1] x"), doctest::Contains("unexpected text"));
  CHECK_THROWS_WITH(parse_json("\"a\nb\""), doctest::Contains("control character"));
  std::string deep(100000, '[');
  CHECK_THROWS_WITH(parse_json(deep), doctest::Contains("nesting deeper than 128"));
  CHECK_THROWS_WITH(parse_json("[]", JsonLimits{128, 1}), doctest::Contains("exceeds the limit"));
}

TEST_CASE("JSON writer") {
  JsonWriter out;
  out.begin_object().key("name").value("a\"b\n").key("n").value(int64_t{-3}).key("u").value(UINT64_MAX)
      .key("x").value(0.25).key("nan").value(std::nan("")).key("list").begin_array().value(true).null()
      .begin_object().end_object().end_array().end_object();
  CHECK(out.text() == R"({"name":"a\"b\n","n":-3,"u":18446744073709551615,"x":0.25,"nan":null,"list":[true,null,{}]})");
  Json back = parse_json(out.text());
  CHECK(back.at("name").as_string() == "a\"b\n");
  CHECK(json_quote(std::string("\x01", 1)) == "\"\\u0001\"");
}
