#include "cli/providers/logging_provider.h"

#include <chrono>
#include <type_traits>

#include "core/log.h"

namespace keel::providers {

namespace {

using Clock = std::chrono::steady_clock;

// What one call is about: names only, never values.
struct CallSubject {
  const char* op;
  std::string_view kind, address, id;
};

// A word as is, anything else quoted as JSON, so that a name can never
// forge another field of the line.
std::string field(std::string_view value) {
  bool plain = !value.empty();
  for (unsigned char c : value) plain = plain && c > ' ' && c < 0x7f && c != '"' && c != '=';
  return plain ? std::string(value) : nlohmann::json(std::string(value)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

class LoggingProvider final : public provider::Provider {
 public:
  explicit LoggingProvider(std::unique_ptr<provider::Provider> inner) : inner_(std::move(inner)) {}

  const provider::ProviderSchema& schema() const override { return inner_->schema(); }

  Status configure(const provider::ConfigureRequest& r) override {
    return logged({"configure", {}, {}, {}}, [&] { return inner_->configure(r); });
  }
  Result<provider::CreateResponse> create(const provider::CreateRequest& r) override {
    return logged({"create", r.kind, r.tags.address, {}}, [&] { return inner_->create(r); });
  }
  Result<provider::ReadResponse> read(const provider::ReadRequest& r) override {
    return logged({"read", r.kind, r.address, r.id}, [&] { return inner_->read(r); });
  }
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& r) override {
    return logged({"update", r.kind, r.tags.address, r.id}, [&] { return inner_->update(r); });
  }
  Status remove(const provider::DeleteRequest& r) override {
    return logged({"delete", r.kind, r.address, r.id}, [&] { return inner_->remove(r); });
  }
  Result<provider::FindResponse> find(const provider::FindRequest& r) override {
    return logged({"find", r.kind, r.tags.address, r.id}, [&] { return inner_->find(r); });
  }

 private:
  template <class Call>
  std::invoke_result_t<Call&> logged(const CallSubject& subject, Call&& call) {
    if (!logging::enabled(logging::Level::Debug)) return call();
    const auto start = Clock::now();
    auto result = call();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    std::string line = "provider call provider=" + field(inner_->schema().name) + " op=" + subject.op;
    if (!subject.kind.empty()) line += " kind=" + field(subject.kind);
    if (!subject.address.empty()) line += " address=" + field(subject.address);
    std::string id(subject.id);
    if constexpr (std::is_same_v<decltype(result), Result<provider::CreateResponse>>)
      if (result) id = result->id;
    if constexpr (std::is_same_v<decltype(result), Result<provider::FindResponse>>)
      if (result && result->found) id = result->id;
    if (!id.empty()) line += " id=" + field(id);
    line += " duration_ms=" + std::to_string(ms);
    if constexpr (std::is_same_v<decltype(result), Result<provider::ReadResponse>> ||
                  std::is_same_v<decltype(result), Result<provider::FindResponse>>)
      if (result && !result->found) line += " found=false";
    // An error's message is the provider's own words (status and the
    // cloud's message), which never carry attribute values by contract.
    line += result ? std::string(" outcome=ok")
                   : " outcome=error code=" + field(to_string(result.error().code())) + " error=" +
                         field(result.error().message());
    logging::debug("{}", line);
    return result;
  }

  std::unique_ptr<provider::Provider> inner_;
};

}  // namespace

std::unique_ptr<provider::Provider> make_logging_provider(std::unique_ptr<provider::Provider> inner) {
  return std::make_unique<LoggingProvider>(std::move(inner));
}

}  // namespace keel::providers
