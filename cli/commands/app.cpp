#include "cli/commands/app.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "cli/commands/completion.h"
#include "cli/commands/init.h"
#include "cli/config/stack.h"
#include "cli/views/render.h"
#include "core/diagnostics.h"
#include "core/text.h"

namespace keel::commands {

std::string help_footer(const std::vector<std::string>& examples, const ExitCodeHelp& codes, const std::string& note) {
  std::string out;
  if (!examples.empty()) {
    out += "Examples:\n";
    for (const auto& e : examples) out += "  " + e + "\n";
  }
  if (!codes.empty()) {
    out += (out.empty() ? "" : "\n") + std::string("Exit codes:\n");
    for (const auto& [code, meaning] : codes) out += "  " + std::to_string(code) + (code < 10 ? "    " : "  ") + meaning + "\n";
  }
  if (!note.empty()) out += note;
  return out;
}

void add_targets(CLI::App& cmd, std::vector<std::string>& targets, const std::string& what) {
  cmd.add_option("--target", targets, what)->type_name("ADDR");
}

void declare_command(CLI::App& parent, Context& ctx, const std::string& name, const std::string& summary,
                     CommandFill fill) {
  auto* cmd = parent.add_subcommand(name, summary);
  auto filled = std::make_shared<bool>(false);
  auto fill_once = [cmd, &ctx, fill, filled] {
    if (*filled) return;
    *filled = true;
    fill(cmd, ctx);
  };
  cmd->preparse_callback([fill_once](std::size_t) { fill_once(); });
  ctx.command_fills.push_back(fill_once);
}

void fill_every_command(Context& ctx) {
  // By index: a fill may declare commands of its own (appended).
  for (size_t i = 0; i < ctx.command_fills.size(); ++i) ctx.command_fills[i]();
}

void set_usage_exit(const CLI::App& cmd, Context& ctx, int code) { ctx.usage_exits[&cmd] = code; }

const CLI::Validator& at_least_one() {
  // The empty description keeps --help as it was (no ":..." after INT).
  static const CLI::Validator check(
      [](std::string& value) -> std::string {
        int n = 0;
        if (CLI::detail::lexical_cast(value, n) && n >= 1) return {};
        return "want a whole number of at least 1, not " + value;
      },
      "", "at least one");
  return check;
}

CLI::Option* offer_words(CLI::Option* positional, const std::vector<std::string>& words) {
  // The completion scripts expand the words again (compgen -W, fish's -a)
  // and offered_words splits them at commas: plain words only.
  for (const std::string& word : words)
    if (word.empty() || !std::all_of(word.begin(), word.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        }))
      throw std::invalid_argument("offer_words: `" + word + "` is not a plain word ([a-z0-9-])");
  std::string type = "{";
  for (const std::string& word : words) type += (type.size() > 1 ? "," : "") + word;
  return positional->type_name(type + "}");
}

std::vector<std::string> offered_words(const CLI::Option& option) {
  // The type name is where offer_words keeps them (CLI11 has no other slot).
  const std::string type = option.get_type_name();
  if (!option.get_positional() || type.size() < 3 || type.front() != '{' || type.back() != '}') return {};
  std::vector<std::string> words;
  for (size_t start = 1, comma; start < type.size(); start = comma + 1) {
    comma = type.find(',', start);
    if (comma == std::string::npos) comma = type.size() - 1;
    words.push_back(type.substr(start, comma - start));
  }
  return words;
}

namespace {

// A command's --help also lists the global options (-f, --var, --json,
// --no-color), which work before or after it: CLI11 shows only its own.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_footer(const CLI::App* app) const override {
    const CLI::App* root = app;
    while (root->get_parent()) root = root->get_parent();
    if (root == app) return CLI::Formatter::make_footer(app);
    std::vector<const CLI::Option*> globals;
    for (const CLI::Option* opt : root->get_options())
      if (opt != root->get_help_ptr() && opt != root->get_version_ptr() && !opt->get_group().empty()) globals.push_back(opt);
    // make_help has put a blank line before the footer already.
    std::string group = make_group("Global options (before or after the command)", false, globals);
    if (group.starts_with('\n')) group.erase(0, 1);
    return group + "\n" + CLI::Formatter::make_footer(app);
  }
};

}  // namespace

std::unique_ptr<CLI::App> make_app(Context& ctx) {
  ctx.usage_exits.clear();
  ctx.command_fills.clear();
  auto app = std::make_unique<CLI::App>("keel: plans and applies infrastructure from a YAML stack", "keel");
  // Unknown words and flags are kept rather than thrown, so that parse()
  // can say which one and suggest the nearest (inherited by subcommands).
  app->allow_extras();
  app->fallthrough();  // global flags work after the command too: `keel plan --json`
  // One command per level (inherited by every command): a second command
  // word is an unexpected argument, so `keel validate destroy` is refused
  // rather than run as a destroy.
  app->require_subcommand(0, 1);
  app->set_version_flag("--version", "keel " KEEL_VERSION);
  app->formatter(std::make_shared<HelpFormatter>());  // before the commands: they take it from keel
  app->footer("Run `keel COMMAND --help` for a command's flags, examples and exit codes.\n");
  app->add_option("-f,--file", ctx.global.file, "the stack file")->capture_default_str()->type_name("FILE");
  app->add_option("-e,--env", ctx.global.environment,
                  "the environment: its own state and its `environments:` vars (default: KEEL_ENV; "
                  "docs/environments.md)")
      ->type_name("NAME")
      ->envname("KEEL_ENV")
      ->check([](const std::string& name) {
        return config::is_environment_name(name)
                   ? std::string()
                   : "an environment's name starts with a letter or a digit and holds only letters, digits, `_` and `-` "
                     "(at most 32)";
      });
  app->add_option("--var", ctx.global.vars, "set a variable: NAME=VALUE (repeatable)")->type_name("NAME=VALUE");
  app->add_option("--var-file", ctx.global.var_files,
                  "set variables from a YAML file of NAME: VALUE (repeatable; the last wins, --var over all)")
      ->type_name("FILE");
  app->add_option("--backend", ctx.global.backend,
                  "where the state is: local, or a postgresql:// URL without its password (default: KEEL_BACKEND, "
                  "then the stack's backend:, then .keel/; docs/backends.md)")
      ->type_name("BACKEND");
  app->add_option("--lock-timeout", ctx.global.lock_timeout,
                  "wait this long for a state lock another keel holds (30s, 5m; a bare number is seconds), saying "
                  "who holds it; default: refuse at once")
      ->type_name("DURATION");
  app->add_flag("--json", ctx.global.json, "machine-readable output (docs/json-output.md)");
  app->add_flag("--no-color", ctx.global.no_color, "no colours, even on a terminal (NO_COLOR does the same)");
  setup_validate(*app, ctx);
  setup_plan(*app, ctx);
  setup_show(*app, ctx);
  setup_apply(*app, ctx);
  setup_destroy(*app, ctx);
  setup_refresh(*app, ctx);
  setup_output(*app, ctx);
  setup_graph(*app, ctx);
  setup_schema(*app, ctx);
  setup_state(*app, ctx);
  setup_health(*app, ctx);
  setup_backup(*app, ctx);
  setup_exec(*app, ctx);
  setup_deploy(*app, ctx);
  setup_agent(*app, ctx);
  add_init_command(*app, ctx);
  // Completion runs in its own CLI11 callbacks (CLI::Success or
  // CLI::RuntimeError ends them), and last: it also registers the hidden
  // `__generate` the build runs for man pages and completions.
  add_completion_commands(*app, ctx);
  return app;
}

namespace {

// The innermost subcommand the words chose (the app itself when none).
const CLI::App* chosen(const CLI::App& app) {
  for (const auto* sub : app.get_subcommands())
    if (sub->parsed()) return chosen(*sub);
  return &app;
}

// The code for bad flags of `cmd`: its own, or the nearest parent's.
int usage_exit_of(const CLI::App& cmd, const Context& ctx) {
  for (const CLI::App* a = &cmd; a; a = a->get_parent())
    if (auto it = ctx.usage_exits.find(a); it != ctx.usage_exits.end()) return it->second;
  return kExitError;
}

std::string path_of(const CLI::App& app) {
  std::string path;
  for (const CLI::App* a = &app; a && a->get_parent(); a = a->get_parent())
    path = a->get_name() + (path.empty() ? "" : " " + path);
  return path.empty() ? "keel" : "keel " + path;
}

// The commands a person may type (not the hidden `__generate`).
std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands({}))
    if (!sub->get_group().empty()) names.push_back(sub->get_name());
  return names;
}

// Every long flag the app (and, through fallthrough, its parents) takes.
std::vector<std::string> flag_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* a = &app; a; a = a->get_parent())
    for (const auto* opt : a->get_options())
      for (const auto& name : opt->get_lnames()) names.push_back("--" + name);
  names.push_back("--help");
  return names;
}

// Two neighbouring letters swapped (`plna`): the commonest typo, which
// did_you_mean's edit distance counts as two.
bool swapped_letters(const std::string& word, const std::string& candidate) {
  if (word.size() != candidate.size()) return false;
  size_t i = 0;
  while (i < word.size() && word[i] == candidate[i]) ++i;
  return i + 1 < word.size() && word[i] == candidate[i + 1] && word[i + 1] == candidate[i] &&
         word.compare(i + 2, std::string::npos, candidate, i + 2, std::string::npos) == 0;
}

std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  for (const auto& c : candidates)
    if (swapped_letters(word, c)) return "; did you mean `" + c + "`?";
  auto near = did_you_mean(word, candidates);  // "did you mean `X`?" or ""
  return near.empty() ? "" : "; " + near;
}

// The first word nobody took: an unknown flag, an unknown command, or one
// word too many.
std::string describe_extra(const CLI::App& at, const std::vector<std::string>& extras) {
  for (const auto& word : extras) {
    if (word.rfind("-", 0) != 0) continue;
    std::string flag = word.substr(0, word.find('='));
    const auto flags = flag_names(at);
    // `keel --target x plan`: the command's own flag, before the command.
    if (std::find(flags.begin(), flags.end(), flag) != flags.end())
      return "`" + flag + "` is a flag of `" + path_of(at) + "`: put it after the command";
    return "unknown flag `" + flag + "` for `" + path_of(at) + "`" + suggestion(flag, flags);
  }
  const std::string& word = extras.front();
  auto commands = subcommand_names(at);
  if (!commands.empty()) return "unknown command `" + word + "`" + suggestion(word, commands);
  return "unexpected argument `" + word + "` for `" + path_of(at) + "`";
}

// On stderr for people; under --json also the error document on stdout, so
// that a pipeline reading stdout gets JSON whatever went wrong
// (docs/json-output.md: kind "usage").
void usage_error(const CLI::App& at, Context& ctx, const std::string& message) {
  // The words are the user's: a control character among them (an escape
  // sequence) is shown, not sent to the terminal.
  write(ctx.err, "Error: " + text::printable(message) + "\nRun `" + path_of(at) + " --help` for usage.\n");
  if (ctx.usage_json)
    write(ctx.out, views::json_document({{"error", {{"kind", "usage"}, {"message", message}}}}) + "\n");
}

// --json (or --json=VALUE that CLI11 reads as true) among keel's own words
// (not the remote command of `keel exec`): for a parse that fails, which
// may stop before it reads the flag. A parse that succeeds says for itself.
bool asks_for_json(const std::vector<std::string>& reversed_words) {
  static const std::vector<std::string_view> kFalse = {"0", "false", "off", "no", "disable"};
  return std::any_of(reversed_words.begin(), reversed_words.end(), [](const std::string& word) {
    if (word == "--json") return true;
    if (word.rfind("--json=", 0) != 0) return false;
    std::string value = word.substr(7);
    std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
    return std::find(kFalse.begin(), kFalse.end(), value) == kFalse.end();
  });
}

}  // namespace

std::optional<int> parse(CLI::App& app, Context& ctx, int argc, const char* const* argv) {
  // keel exec SELECTOR... -- COMMAND: the words after the first `--` are
  // the remote command, never keel's flags or selectors.
  std::vector<std::string> words;
  for (int i = argc - 1; i >= 1; --i) words.emplace_back(argv[i]);  // CLI11 takes them reversed
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) != "--") continue;
    bool exec = false;
    for (int j = 1; j < i; ++j) exec |= std::string_view(argv[j]) == "exec";
    if (exec) {
      ctx.after_dashdash.assign(argv + i + 1, argv + argc);
      words.erase(words.begin(), words.begin() + (argc - i));
    }
    break;
  }
  ctx.usage_json = asks_for_json(words);
  try {
    app.parse(words);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command run while parsing (`__generate`) said why itself
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    int code = app.exit(e, out, err);
    write(ctx.out, out.str());
    if (code == 0) return 0;
    ctx.usage_exit = usage_exit_of(*chosen(app), ctx);
    usage_error(*chosen(app), ctx, e.what());
    return ctx.usage_exit;
  }
  ctx.usage_json = ctx.global.json;  // what CLI11 read: `-f --json` is a file name
  const CLI::App& at = *chosen(app);
  ctx.usage_exit = usage_exit_of(at, ctx);
  if (auto extras = app.remaining(true); !extras.empty()) {
    usage_error(at, ctx, describe_extra(at, extras));
    ctx.run = nullptr;  // chosen by the callbacks, but not to be run
    return ctx.usage_exit;
  }
  if (!ctx.run) {
    std::string list;
    for (const auto& name : subcommand_names(at)) list += (list.empty() ? "" : ", ") + name;
    usage_error(at, ctx, "`" + path_of(at) + "` needs a command: " + list);
    return ctx.usage_exit;
  }
  ctx.global.file_given = app.get_option("--file")->count() > 0;
  ctx.finish_parsing();
  return std::nullopt;
}

int run(Context& ctx) {
  try {
    return ctx.run();
  } catch (const std::exception& e) {
    // Last resort: a library exception that escaped its boundary is a bug.
    write(ctx.err, std::string("Error: internal: ") + e.what() + "\n");
    // health: unknown; backup, restore, drill: failed (1), as everyone else
    return ctx.usage_exit == kHealthUnknown ? static_cast<int>(kHealthUnknown) : static_cast<int>(kExitError);
  }
}

}  // namespace keel::commands
