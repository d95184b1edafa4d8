// An error the server answers with, in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens", "code": null}}
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace pthrun::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {})
      : std::runtime_error(message), status(status), param(std::move(param)), code(std::move(code)) {}
  int status;
  std::string param;  // the request field at fault, "" for none
  std::string code;   // OpenAI's code ("invalid_api_key", ...), "" for none
};

// The body for `error`: its type follows the status (4xx: invalid_request_error, 5xx: server_error).
nlohmann::json error_body(const ApiError& error);

}  // namespace pthrun::serve
