// Fuzz target: the stack loader and validator (what `keel validate` runs on
// a stack from a pull request), against the built-in providers' schemas.
// Any input must end in a Stack and Diagnostics: no crash, no hang, bounded
// memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cli/config/configuration.h"
#include "cli/providers/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static keel::providers::Registry registry({});
  std::string text(reinterpret_cast<const char*>(data), size);
  auto loaded = keel::config::load_stack_text(text, "keel.yaml", "/nonexistent");
  keel::config::ValidateOptions options;
  // The environment is not the fuzzer's to read: every ${env.X} is unset.
  options.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto validated = keel::config::validate(loaded.stack, registry.schema_source(), options);
  (void)validated.diagnostics.describe();
  return 0;
}
