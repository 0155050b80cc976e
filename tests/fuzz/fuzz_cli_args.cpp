// Fuzz target: keel's command line (cli/commands/app.h), one word per line
// of the input: every command's flags, the exec `--` split, did-you-mean on
// any word. Any argv must end in a chosen command or a usage error on the
// context's stderr: no crash, no hang. Commands are parsed, never run.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands/app.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::FILE* sink = std::fopen("/dev/null", "w");
  std::vector<std::string> words{"keel"};
  std::string word;
  for (size_t i = 0; i < size && words.size() < 64; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n') {
      words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty() && words.size() < 64) words.push_back(word);
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  keel::commands::Context ctx;
  ctx.out = ctx.err = sink;
  auto app = keel::commands::make_app(ctx);
  auto code = keel::commands::parse(*app, ctx, static_cast<int>(argv.size()), argv.data());
  if (!code && !ctx.run) __builtin_trap();  // parsed, yet nothing to run
  return 0;
}
