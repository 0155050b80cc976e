// AWS's XML answers as keel-provider-aws reads them (plugins/aws/api_client.h):
// whatever comes back from an endpoint (a proxy, a broken server) becomes
// JSON or an error, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plugins/aws/api_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto j = keel::aws::xml_to_json(xml);
  if (j) {
    (void)keel::aws::items(*j, "reservationSet");
    (void)keel::aws::tag_value(*j, "Name");
  }
  (void)keel::aws::parse_error(xml);
  return 0;
}
