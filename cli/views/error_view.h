#pragma once
// How any command reports an error and an invalid stack, chosen once from
// --json: "Error: MESSAGE" and the diagnostics on stderr; or, under --json,
// one document on stdout, {"error": {"kind", "message"}}, with
// "valid": false and the diagnostics when the stack was invalid
// (docs/json-output.md#errors-any-command).

#include <memory>

#include "cli/views/plan_view.h"
#include "core/diagnostics.h"
#include "core/error.h"

namespace keel::views {

class ErrorView {
 public:
  virtual ~ErrorView() = default;
  // An invalid stack's diagnostics (text: at once; JSON: with the error
  // that follows, as one document).
  virtual void invalid_stack(const Diagnostics& diags) = 0;
  // A valid stack's warnings (text only: a JSON document has no room for
  // them yet).
  virtual void warnings(const Diagnostics& diags) = 0;
  virtual void error(const Error& e) = 0;
};
std::unique_ptr<ErrorView> make_error_view(bool json, const Streams& streams);

}  // namespace keel::views
