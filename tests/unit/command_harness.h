#pragma once
// Runs keel's commands in-process, as `keel ARGS...` would, with a Context
// whose streams are memory buffers and whose environment is a map: what a
// command printed, where, and its exit code.

#include <stdio.h>
#include <stdlib.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands/app.h"

namespace keel::testing {

class CommandRun {
 public:
  CommandRun() {
    out_ = ::open_memstream(&out_buf_, &out_len_);
    err_ = ::open_memstream(&err_buf_, &err_len_);
    ctx.out = out_;
    ctx.err = err_;
    ctx.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
  }
  ~CommandRun() {
    std::fclose(out_);
    std::fclose(err_);
    ::free(out_buf_);
    ::free(err_buf_);
  }
  CommandRun(const CommandRun&) = delete;
  CommandRun& operator=(const CommandRun&) = delete;

  // Parses `keel ARGS...`: nullopt when a command was chosen (ctx.run).
  std::optional<int> parse(const std::vector<std::string>& args) {
    app = commands::make_app(ctx);
    std::vector<const char*> argv{"keel"};
    for (const auto& a : args) argv.push_back(a.c_str());
    return commands::parse(*app, ctx, static_cast<int>(argv.size()), argv.data());
  }
  // Parses and runs `keel ARGS...`; the exit code.
  int keel(const std::vector<std::string>& args) {
    if (auto code = parse(args)) return *code;
    return commands::run(ctx);
  }
  template <class Options>
  Options options() const {
    return std::any_cast<Options>(ctx.options);
  }
  std::string out() {
    std::fflush(out_);
    return std::string(out_buf_, out_len_);
  }
  std::string err() {
    std::fflush(err_);
    return std::string(err_buf_, err_len_);
  }

  commands::Context ctx;
  std::map<std::string, std::string> env;
  std::unique_ptr<CLI::App> app;

 private:
  std::FILE* out_ = nullptr;
  std::FILE* err_ = nullptr;
  char* out_buf_ = nullptr;
  char* err_buf_ = nullptr;
  size_t out_len_ = 0, err_len_ = 0;
};

}  // namespace keel::testing
