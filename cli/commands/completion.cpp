#include "cli/commands/completion.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "cli/commands/app.h"
#include "core/files.h"

namespace keel::commands {

namespace {

// --- the model: what the app offers, walked once ---------------------------------------

struct Flag {
  std::vector<std::string> names;  // "-f", "--file", "--no-refresh"
  std::string description;
  bool takes_value = false;
  std::string value_name;  // "FILE"
};

struct Positional {
  std::string name;
  std::string description;
  bool required = false;
  bool repeatable = false;
  std::vector<std::string> words;  // the words it may be (offer_words), if fixed
};

struct Command {
  std::vector<std::string> path;  // {} for keel, {"backup", "run"}
  std::string description;
  std::string footer;
  std::vector<Flag> flags;          // its own
  std::vector<Flag> inherited;      // its parents' (fallthrough: `keel plan --json`)
  std::vector<Positional> positionals;
  std::vector<std::string> subcommands;
  std::vector<std::string> sub_descriptions;
  std::vector<std::string> first_words;  // what the first positional may be (offer_words)

  std::string joined(const char* sep) const {
    std::string out;
    for (const auto& word : path) out += (out.empty() ? "" : sep) + word;
    return out;
  }
};

bool hidden(const CLI::App* app) { return app->get_group().empty(); }

std::string upper(std::string text) {
  for (char& c : text) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::vector<Flag> flags_of(const CLI::App& app) {
  std::vector<Flag> flags;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_positional() && opt->get_lnames().empty() && opt->get_snames().empty()) continue;
    if (opt->get_group().empty()) continue;  // hidden
    Flag f;
    for (const auto& s : opt->get_snames()) f.names.push_back("-" + s);
    for (const auto& l : opt->get_lnames()) f.names.push_back("--" + l);
    if (f.names.empty()) continue;
    f.description = opt->get_description();
    f.takes_value = opt->get_type_size_max() > 0 && opt->get_expected_min() > 0;
    f.value_name = upper(opt->get_lnames().empty() ? opt->get_snames().front() : opt->get_lnames().front());
    flags.push_back(std::move(f));
  }
  return flags;
}

std::vector<Positional> positionals_of(const CLI::App& app) {
  std::vector<Positional> out;
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->get_positional() || !opt->get_lnames().empty() || !opt->get_snames().empty()) continue;
    out.push_back({opt->get_name(true), opt->get_description(), opt->get_required(),
                   opt->get_items_expected_max() > 1, offered_words(*opt)});
  }
  return out;
}

void walk(const CLI::App& app, std::vector<std::string> path, std::vector<Flag> inherited, std::vector<Command>& out) {
  Command c;
  c.path = path;
  c.description = app.get_description();
  c.footer = app.get_footer();
  c.flags = flags_of(app);
  c.inherited = inherited;
  c.positionals = positionals_of(app);
  if (!c.positionals.empty()) c.first_words = c.positionals.front().words;
  auto subs = app.get_subcommands([](const CLI::App* sub) { return !hidden(sub); });
  for (const CLI::App* sub : subs) {
    c.subcommands.push_back(sub->get_name());
    c.sub_descriptions.push_back(sub->get_description());
  }
  std::vector<Flag> passed_down = inherited;
  // --help and --version belong to the command they are on.
  for (const Flag& f : c.flags)
    if (f.names.back() != "--help" && f.names.back() != "--version") passed_down.push_back(f);
  out.push_back(std::move(c));
  for (const CLI::App* sub : subs) {
    auto sub_path = path;
    sub_path.push_back(sub->get_name());
    walk(*sub, std::move(sub_path), passed_down, out);
  }
}

std::vector<Command> commands_of(const CLI::App& root) {
  std::vector<Command> out;
  walk(root, {}, {}, out);
  return out;
}

std::string join_names(const std::vector<Flag>& flags, bool valued_only) {
  std::string out;
  for (const Flag& f : flags)
    if (!valued_only || f.takes_value)
      for (const auto& n : f.names) out += (out.empty() ? "" : " ") + n;
  return out;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Single-quoted for a shell: ' becomes '\''.
std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// --- bash ------------------------------------------------------------------------------

// The words before the cursor select a command path (options and their
// values skipped); the cursor then completes an option of that path (its
// own and its parents'), a subcommand, or a file.
std::string bash_script(const std::vector<Command>& commands) {
  std::string subs, opts, valued, first_words;
  for (const Command& c : commands) {
    const std::string key = shell_quote(c.joined(" "));
    subs += fmt::format("    {}) echo {} ;;\n", key, shell_quote(join_words(c.subcommands)));
    if (!c.first_words.empty())
      first_words += fmt::format("    {}) echo {} ;;\n", key, shell_quote(join_words(c.first_words)));
    std::vector<Flag> all = c.flags;
    all.insert(all.end(), c.inherited.begin(), c.inherited.end());
    opts += fmt::format("    {}) echo {} ;;\n", key, shell_quote(join_names(all, false)));
    valued += fmt::format("    {}) echo {} ;;\n", key, shell_quote(join_names(all, true)));
  }
  return fmt::format(R"SH(# bash completion for keel: generated by `keel completion bash` from keel's own
# command definitions. Load it with: source <(keel completion bash)
_keel_subcommands() {{
  case "$1" in
{}    *) echo '' ;;
  esac
}}
_keel_options() {{
  case "$1" in
{}    *) echo '' ;;
  esac
}}
_keel_valued_options() {{
  case "$1" in
{}    *) echo '' ;;
  esac
}}
_keel_first_words() {{
  case "$1" in
{}    *) echo '' ;;
  esac
}}
_keel() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} path="" word i skip=0 given=0
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${{COMP_WORDS[i]}}
    if ((skip)); then skip=0; continue; fi
    case "$word" in
      --) return 0 ;;  # keel exec ... -- COMMAND: the remote command's words
      -*=*) continue ;;
      -*) case " $(_keel_valued_options "$path") " in *" $word "*) skip=1 ;; esac; continue ;;
    esac
    case " $(_keel_subcommands "$path") " in
      *" $word "*) path=${{path:+$path }}$word; given=0 ;;
      *) given=$((given + 1)) ;;  # a positional word of the command
    esac
  done
  if ((skip)); then
    COMPREPLY=($(compgen -f -- "$cur"))
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_keel_options "$path")" -- "$cur"))
  elif [[ -n $(_keel_subcommands "$path") ]]; then
    COMPREPLY=($(compgen -W "$(_keel_subcommands "$path")" -- "$cur"))
  elif ((given == 0)); then
    COMPREPLY=($(compgen -W "$(_keel_first_words "$path")" -- "$cur"))
  fi
}}
complete -o bashdefault -o default -F _keel keel
)SH",
                     subs, opts, valued, first_words);
}

// --- zsh -------------------------------------------------------------------------------

std::string zsh_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string zsh_script(const std::vector<Command>& commands) {
  std::string cases;
  for (const Command& c : commands) {
    std::string subs, opts;
    for (size_t i = 0; i < c.subcommands.size(); ++i)
      subs += fmt::format(" {}", shell_quote(fmt::format("{}:{}", zsh_escape(c.subcommands[i]), zsh_escape(c.sub_descriptions[i]))));
    std::vector<Flag> all = c.flags;
    all.insert(all.end(), c.inherited.begin(), c.inherited.end());
    std::string valued;
    for (const Flag& f : all)
      for (const auto& n : f.names) {
        opts += fmt::format(" {}", shell_quote(fmt::format("{}:{}", zsh_escape(n), zsh_escape(f.description))));
        if (f.takes_value) valued += fmt::format(" {}", n);
      }
    std::string first;
    for (const auto& word : c.first_words) first += " " + shell_quote(word);
    cases += fmt::format("    {}) subs=({}); opts=({}); valued=({}); first=({}) ;;\n", shell_quote(c.joined(" ")), subs,
                         opts, valued, first);
  }
  return fmt::format(R"SH(#compdef keel
# zsh completion for keel: generated by `keel completion zsh` from keel's own
# command definitions. Install it as _keel in a directory of $fpath.
_keel_describe() {{
  local -a subs opts valued first
  case "$1" in
{}  esac
  reply_subs=("${{subs[@]}}"); reply_opts=("${{opts[@]}}"); reply_valued=("${{valued[@]}}"); reply_first=("${{first[@]}}")
}}
_keel() {{
  # Not `path`: zsh ties $path to $PATH (`keel exec ... -- CMD` would find no command).
  local cmdpath="" word i skip=0 given=0
  local -a reply_subs reply_opts reply_valued reply_first names
  for ((i = 2; i < CURRENT; i++)); do
    word=${{words[i]}}
    if ((skip)); then skip=0; continue; fi
    [[ $word == -- ]] && {{ _normal; return }}
    _keel_describe "$cmdpath"
    if [[ $word == -* ]]; then
      (( ${{reply_valued[(Ie)$word]}} )) && skip=1
      continue
    fi
    names=("${{reply_subs[@]%%:*}}")
    if (( ${{names[(Ie)$word]}} )); then cmdpath=${{cmdpath:+$cmdpath }}$word; given=0; else ((given++)); fi
  done
  _keel_describe "$cmdpath"
  if ((skip)); then
    _files
  elif [[ ${{words[CURRENT]}} == -* ]]; then
    _describe -t options 'keel option' reply_opts
  elif (( ${{#reply_subs}} )); then
    _describe -t commands 'keel command' reply_subs
  elif (( given == 0 && ${{#reply_first}} )); then
    compadd -a reply_first
  else
    _files
  fi
}}
_keel "$@"
)SH",
                     cases);
}

// --- fish ------------------------------------------------------------------------------

std::string fish_script(const std::vector<Command>& commands) {
  std::string out =
      "# fish completion for keel: generated by `keel completion fish` from keel's own\n"
      "# command definitions. Install it as keel.fish in ~/.config/fish/completions.\n"
      "# The command path so far (the words that name subcommands; options and\n"
      "# the values of those that take one skipped), then how many positional\n"
      "# words follow it.\n"
      "function __keel_walk\n"
      "    set -l path ''\n"
      "    set -l given 0\n"
      "    set -l skip 0\n"
      "    set -l words (commandline -opc)\n"
      "    set -e words[1]\n"
      "    for word in $words\n"
      "        if test $skip = 1\n"
      "            set skip 0\n"
      "            continue\n"
      "        end\n"
      "        if string match -q -- '-*' $word\n"
      "            contains -- $word $__keel_valued; and set skip 1\n"
      "            continue\n"
      "        end\n"
      "        set -l next $word\n"
      "        test -n \"$path\"; and set next \"$path $word\"\n"
      "        if contains -- $next $__keel_paths\n"
      "            set path $next\n"
      "            set given 0\n"
      "        else\n"
      "            set given (math $given + 1)\n"
      "        end\n"
      "    end\n"
      "    echo $path\n"
      "    echo $given\n"
      "end\n"
      "function __keel_at\n"
      "    set -l walked (__keel_walk)\n"
      "    test \"$walked[1]\" = \"$argv[1]\"\n"
      "end\n"
      "# At the command path $argv[1] with none of its positional words given yet.\n"
      "function __keel_at_first\n"
      "    set -l walked (__keel_walk)\n"
      "    test \"$walked[1]\" = \"$argv[1]\"; and test \"$walked[2]\" = 0\n"
      "end\n";
  std::string paths;
  for (const Command& c : commands)
    if (!c.path.empty()) paths += " " + shell_quote(c.joined(" "));
  out += "set -g __keel_paths" + paths + "\n";
  std::set<std::string> valued;
  for (const Command& c : commands)
    for (const Flag& f : c.flags)
      if (f.takes_value) valued.insert(f.names.begin(), f.names.end());
  out += "set -g __keel_valued";
  for (const auto& name : valued) out += " " + shell_quote(name);
  out += "\n";
  out += "complete -c keel -f\n";
  for (const Command& c : commands) {
    const std::string cond = fmt::format("-n {}", shell_quote("__keel_at " + shell_quote(c.joined(" "))));
    for (size_t i = 0; i < c.subcommands.size(); ++i)
      out += fmt::format("complete -c keel {} -a {} -d {}\n", cond, shell_quote(c.subcommands[i]),
                         shell_quote(c.sub_descriptions[i]));
    for (const Flag& f : c.flags) {
      std::string spec;
      for (const auto& n : f.names) spec += n.starts_with("--") ? " -l " + n.substr(2) : " -s " + n.substr(1);
      // keel's global options work after any command (fallthrough): no condition.
      const std::string where = c.path.empty() ? "" : " " + cond;
      out += fmt::format("complete -c keel{}{}{} -d {}\n", where, spec, f.takes_value ? " -r -F" : "",
                         shell_quote(f.description));
    }
    if (!c.first_words.empty())
      out += fmt::format("complete -c keel -n {} -a {}\n", shell_quote("__keel_at_first " + shell_quote(c.joined(" "))),
                         shell_quote(join_words(c.first_words)));
    // Files for positional words, but not where a fixed first word goes.
    if (c.subcommands.empty() && !c.positionals.empty())
      out += fmt::format("complete -c keel -n {} -F\n",
                         shell_quote(c.first_words.empty()
                                         ? "__keel_at " + shell_quote(c.joined(" "))
                                         : "__keel_at " + shell_quote(c.joined(" ")) + "; and not __keel_at_first " +
                                               shell_quote(c.joined(" "))));
  }
  return out;
}

// --- man -------------------------------------------------------------------------------

// Roff text: backslashes escaped, '-' as \-, and a line starting with '.' or
// '\'' kept from being read as a request.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
    line_start = c == '\n';
  }
  return out;
}

std::string page_name(const Command& c) { return c.path.empty() ? "keel" : "keel-" + c.joined("-"); }

void man_options(std::string& out, const std::vector<Flag>& flags) {
  for (const Flag& f : flags) {
    std::string names;
    for (const auto& n : f.names) names += (names.empty() ? "" : ", ") + fmt::format("\\fB{}\\fR", roff(n));
    if (f.takes_value) names += fmt::format(" \\fI{}\\fR", roff(f.value_name));
    out += fmt::format(".TP\n{}\n{}\n", names, roff(f.description));
  }
}

// A command's footer (app.h help_footer: notes, then "Examples:", then
// "Exit codes:") as man sections of their own: DETAILS, EXAMPLES, EXIT
// STATUS. A footer without the markers is all DETAILS.
void man_footer(std::string& out, const std::string& footer) {
  constexpr std::string_view kExamples = "Examples:\n", kCodes = "Exit codes:\n";
  const size_t examples = footer.find(kExamples), codes = footer.find(kCodes);
  auto block = [&](size_t from, size_t to) {
    std::string text = footer.substr(from, to == std::string::npos ? std::string::npos : to - from);
    while (!text.empty() && text.front() == '\n') text.erase(0, 1);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  };
  auto section = [&](const char* title, const std::string& text) {
    if (!text.empty()) out += fmt::format(".SH {}\n.nf\n{}\n.fi\n", title, roff(text));
  };
  section("DETAILS", block(0, std::min(examples, codes)));
  if (examples != std::string::npos)
    section("EXAMPLES", block(examples + kExamples.size(), codes > examples ? codes : std::string::npos));
  if (codes != std::string::npos)
    section("EXIT STATUS", block(codes + kCodes.size(), examples > codes ? examples : std::string::npos));
}

std::string man_page(const Command& c, std::string_view version) {
  const std::string name = page_name(c);
  std::string title = name;
  for (char& ch : title) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::string out = fmt::format(".\\\" Generated by keel from its own command definitions: do not edit.\n"
                                ".TH {} 1 \"\" \"keel {}\" \"Keel Manual\"\n.SH NAME\n{} \\- {}\n",
                                roff(title), roff(version), roff(name), roff(c.description));
  out += fmt::format(".SH SYNOPSIS\n.B keel{}\n", c.path.empty() ? "" : " " + roff(c.joined(" ")));
  out += "[\\fIOPTIONS\\fR]";
  if (!c.subcommands.empty()) out += " \\fICOMMAND\\fR";
  for (const Positional& p : c.positionals)
    out += p.required ? fmt::format(" \\fI{}\\fR{}", roff(upper(p.name)), p.repeatable ? "..." : "")
                      : fmt::format(" [\\fI{}\\fR{}]", roff(upper(p.name)), p.repeatable ? "..." : "");
  out += fmt::format("\n.SH DESCRIPTION\n{}\n", roff(c.description));
  if (!c.positionals.empty()) {
    out += ".SH ARGUMENTS\n";
    for (const Positional& p : c.positionals) {
      std::string words;
      for (const auto& w : p.words) words += (words.empty() ? ": " : ", ") + w;
      out += fmt::format(".TP\n\\fI{}\\fR\n{}\n", roff(upper(p.name)), roff(p.description + words));
    }
  }
  if (!c.flags.empty()) {
    out += ".SH OPTIONS\n";
    man_options(out, c.flags);
  }
  if (!c.inherited.empty()) {
    out += ".SH GLOBAL OPTIONS\n";
    man_options(out, c.inherited);
  }
  if (!c.subcommands.empty()) {
    out += ".SH COMMANDS\n";
    for (size_t i = 0; i < c.subcommands.size(); ++i) {
      Command sub;
      sub.path = c.path;
      sub.path.push_back(c.subcommands[i]);
      out += fmt::format(".TP\n\\fB{}\\fR(1)\n{}\n", roff(page_name(sub)), roff(c.sub_descriptions[i]));
    }
  }
  man_footer(out, c.footer);
  if (c.path.empty())
    out += ".SH ENVIRONMENT\n.TP\n\\fBKEEL_LOG\\fR\ndebug, info, warn or error (default warn): debug logs every provider call "
           "(never attribute values)\n.TP\n\\fBKEEL_LOG_FILE\\fR\nwrite the log to this file (created 0600) instead of "
           "stderr\n.TP\n\\fBKEEL_PLUGIN_PATH\\fR\ndirectories (colon-separated) searched for keel\\-provider\\-NAME "
           "after keel's own\n";
  out += ".SH SEE ALSO\n";
  out += c.path.empty() ? "keel\\-init(1), keel\\-plan(1), keel\\-apply(1)\n" : "keel(1)\n";
  return out;
}

Status write_generated(const CLI::App& root, const std::string& dir) {
  if (dir.empty()) return fail(ErrorCode::InvalidConfig, "the directory is empty");  // "" + "/man1" is /man1
  const std::string man_dir = dir + "/man1", completions_dir = dir + "/completions";
  if (auto s = files::make_dirs(man_dir); !s) return s;
  if (auto s = files::make_dirs(completions_dir); !s) return s;
  for (const auto& [name, text] : man_pages(root, KEEL_VERSION))
    if (auto s = files::write_atomic(man_dir + "/" + name, text, 0644); !s) return s;
  const std::pair<const char*, const char*> scripts[] = {{"bash", "keel"}, {"zsh", "_keel"}, {"fish", "keel.fish"}};
  for (const auto& [shell, file] : scripts)
    if (auto s = files::write_atomic(completions_dir + "/" + file, *completion_script(root, shell), 0644); !s) return s;
  return {};
}

}  // namespace

std::optional<std::string> completion_script(const CLI::App& root, std::string_view shell) {
  const auto commands = commands_of(root);
  if (shell == "bash") return bash_script(commands);
  if (shell == "zsh") return zsh_script(commands);
  if (shell == "fish") return fish_script(commands);
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> man_pages(const CLI::App& root, std::string_view version) {
  std::vector<std::pair<std::string, std::string>> pages;
  for (const Command& c : commands_of(root)) pages.emplace_back(page_name(c) + ".1", man_page(c, version));
  return pages;
}

namespace {

// The root of the tree, with every command filled in: completions and man
// pages list every command's flags. These commands run inside CLI11's
// parse, before parse() looks at the words nobody took, so they look
// themselves: `keel completion bash zsh` is a usage error, not bash's.
CLI::App& whole_tree(CLI::App* cmd, Context& ctx) {
  if (auto extras = cmd->get_parent()->remaining(true); !extras.empty()) throw CLI::ExtrasError(cmd->get_name(), extras);
  fill_every_command(ctx);
  return *cmd->get_parent();
}

void fill_completion(CLI::App* completion, Context& ctx) {
  auto shell = std::make_shared<std::string>();
  completion->add_option("shell", *shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  completion->footer(help_footer(
      {"keel completion bash > ~/.local/share/bash-completion/completions/keel  # keep it",
       "source <(keel completion bash)                                        # load it now",
       "keel completion zsh > \"${fpath[1]}/_keel\"",
       "keel completion fish > ~/.config/fish/completions/keel.fish"},
      {{0, "the script was printed"}, {1, "usage error: a shell other than bash, zsh or fish"}},
      "The Debian package installs all three.\n"));
  completion->callback([completion, &ctx, shell] {
    const auto script = completion_script(whole_tree(completion, ctx), *shell);
    std::fputs(script->c_str(), stdout);
    throw CLI::Success();
  });
}

void fill_generate(CLI::App* generate, Context& ctx) {
  auto dir = std::make_shared<std::string>();
  generate->add_option("dir", *dir, "output directory")->required();
  generate->callback([generate, &ctx, dir] {
    if (auto s = write_generated(whole_tree(generate, ctx), *dir); !s) {
      std::fprintf(stderr, "Error: %s\n", s.error().with_context("writing man pages and completions").message().c_str());
      throw CLI::RuntimeError(1);
    }
    throw CLI::Success();
  });
}

}  // namespace

void add_completion_commands(CLI::App& root, Context& ctx) {
  declare_command(root, ctx, "completion", "print a shell completion script: bash, zsh or fish", fill_completion);
  declare_command(root, ctx, "__generate", "write man pages and completion scripts into DIR (for the build)",
                  fill_generate);
  root.get_subcommand("__generate")->group("");  // hidden: a build step, not a user's command
}

}  // namespace keel::commands
