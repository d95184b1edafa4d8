// GET /: the page (page.html, embedded into the binary at build time by CMake).
#pragma once

#include <string_view>

namespace pthrun::serve {

std::string_view page_html();

}  // namespace pthrun::serve
