#include "cli/views/error_view.h"

#include <cstdio>
#include <optional>
#include <string>

#include "cli/views/render.h"

namespace keel::views {

namespace {

void put(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

class HumanErrorView : public ErrorView {
 public:
  explicit HumanErrorView(const Streams& s) : s_(s) {}
  void invalid_stack(const Diagnostics& diags) override { put(s_.err, render_diagnostics(diags)); }
  void warnings(const Diagnostics& diags) override {
    if (!diags.empty()) put(s_.err, diags.describe());
  }
  void error(const Error& e) override { put(s_.err, "Error: " + e.message() + "\n"); }

 private:
  Streams s_;
};

class JsonErrorView : public ErrorView {
 public:
  explicit JsonErrorView(const Streams& s) : s_(s) {}
  void invalid_stack(const Diagnostics& diags) override { invalid_ = diagnostics_to_json(diags); }
  void warnings(const Diagnostics&) override {}
  void error(const Error& e) override {
    nlohmann::json doc = {{"error", {{"kind", to_string(e.code())}, {"message", e.message()}}}};
    if (invalid_) {
      doc["valid"] = false;
      doc["diagnostics"] = std::move(*invalid_);
      invalid_.reset();
    }
    put(s_.out, json_document(doc) + "\n");
  }

 private:
  Streams s_;
  std::optional<nlohmann::json> invalid_;  // until the error that ends the command
};

}  // namespace

std::unique_ptr<ErrorView> make_error_view(bool json, const Streams& streams) {
  if (json) return std::make_unique<JsonErrorView>(streams);
  return std::make_unique<HumanErrorView>(streams);
}

}  // namespace keel::views
