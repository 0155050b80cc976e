#include "agent/checks/check.h"

namespace keel::agent {

std::string truncate_output(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  static const std::string marker = "\n... (truncated)";
  size_t cut = limit > marker.size() ? limit - marker.size() : 0;
  // Step back over UTF-8 continuation bytes so no character is split.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + marker;
}

}  // namespace keel::agent
