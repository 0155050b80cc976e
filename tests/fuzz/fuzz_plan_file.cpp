// Fuzz target: a plan file given to `keel show` / `keel apply` (a file
// anyone may hand over): its header, and the plan decoder on whatever JSON
// the input holds (the sealed part is authenticated, but its decoder must
// stand any JSON too). Any input must end in a plan or an error: no crash,
// no hang, bounded memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands/plan_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto header = keel::commands::parse_plan_file_header(text, "fuzz.plan");
  if (header) (void)header->plan.serial;
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_discarded()) {
    auto plan = keel::commands::decode_plan(doc.contains("plan") ? doc["plan"] : doc);
    if (plan) (void)keel::commands::encode_plan(*plan).dump();
  }
  return 0;
}
