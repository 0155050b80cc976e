// Fuzz target: loading the state, what keel does with a repository's
// .keel/state.json and .keel/state.journal on `keel plan`. The input is the
// text of state.json, then (after a NUL byte, if any) the journal, replayed
// on top of it. The key is fixed (bytes 0..31), so that seeds can carry
// sealed values that open. Any input must end in a State or an error: no
// crash, no hang, bounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/state/file_store.h"
#include "cli/state/state_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const keel::crypto::Key key = [] {
    keel::crypto::Key k{};
    for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(i);
    return k;
  }();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view state_text = input.substr(0, nul);
  const std::string_view journal = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  keel::state::State state;
  state.lineage = "fuzz";
  if (!state_text.empty()) {
    auto parsed = keel::state::parse_state_text(state_text, "state.json", key);
    if (parsed) state = std::move(*parsed);
  }
  auto replayed = keel::state::replay_journal_text(journal, "state.journal", key, state);
  if (!replayed) return 0;
  // What a compaction writes must load again.
  const std::string saved = keel::state::encode_state(state, key).dump();
  auto again = keel::state::parse_state_text(saved, "state.json", key);
  if (!again) __builtin_trap();
  return 0;
}
