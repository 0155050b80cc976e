#include "cli/commands/init.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/views/render.h"
#include "core/files.h"

namespace keel::commands {

namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxTemplateBytes = 1 << 20;

std::string self_dir() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  return n > 0 ? files::dirname(std::string(self, static_cast<size_t>(n))) : std::string();
}

bool is_dir(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::is_directory(path, ec);
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// A template name is one path component: `keel init ../../etc` reads nothing
// outside the templates.
bool plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

std::string find_template_dir() {
  if (const char* env = std::getenv("KEEL_TEMPLATE_DIR"); env && *env) return env;
  if (std::string self = self_dir(); !self.empty()) {
    const std::string installed = self + "/../share/keel/templates";
    if (is_dir(installed)) return fs::path(installed).lexically_normal().string();
  }
#ifdef KEEL_SOURCE_TEMPLATES
  if (is_dir(KEEL_SOURCE_TEMPLATES)) return KEEL_SOURCE_TEMPLATES;
#endif
  return "";
}

std::vector<std::string> list_templates(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && fs::is_regular_file(it->path() / "keel.yaml", ec))
      names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Status run_init(const InitOptions& options, const std::string& template_dir) {
  if (template_dir.empty())
    return fail(ErrorCode::NotFound,
                "no templates found: not in $KEEL_TEMPLATE_DIR, nor in share/keel/templates beside keel's bin/");
  const auto names = list_templates(template_dir);
  if (options.list) {
    if (options.json) {
      std::printf("%s\n", views::json_document({{"templates", names}}).c_str());
      return {};
    }
    for (const auto& n : names) std::printf("%s\n", n.c_str());
    return {};
  }
  if (!plain_name(options.name) || std::find(names.begin(), names.end(), options.name) == names.end())
    return fail(ErrorCode::NotFound, "no template `" + options.name + "` in " + template_dir + " (there are: " +
                                         joined(names) + ")");
  auto text = files::read_regular_file(template_dir + "/" + options.name + "/keel.yaml", kMaxTemplateBytes);
  if (!text) return fail(text.error().with_context("template " + options.name));
  const std::string target = options.dir + "/keel.yaml";
  if (!options.force && files::exists_no_follow(target))
    return fail(ErrorCode::Conflict, target + " exists; keel init does not overwrite it (--force does)");
  if (auto s = files::make_dirs(options.dir); !s) return fail(s.error().with_context(options.dir));
  if (auto s = files::write_atomic(target, *text, 0644); !s) return fail(s.error().with_context("write " + target));
  if (options.json) {
    std::printf("%s\n", views::json_document({{"written", target}, {"template", options.name}}).c_str());
    return {};
  }
  std::printf("Wrote %s from the `%s` template. Read its comments, then:\n"
              "  keel validate    check it\n"
              "  keel plan        see what apply would make\n",
              target.c_str(), options.name.c_str());
  return {};
}

namespace {

void fill_init(CLI::App* init, Context& ctx) {
  auto options = std::make_shared<InitOptions>();
  init->add_option("template", options->name, "quickstart, aws, digitalocean, ssh, ... (--list shows them)")
      ->capture_default_str();
  init->add_option("--dir", options->dir, "where to write keel.yaml")->capture_default_str();
  init->add_flag("--force", options->force, "overwrite an existing keel.yaml");
  init->add_flag("--list", options->list, "list the templates and exit");
  init->footer(help_footer({"keel init                  # the quickstart: PostgreSQL, Redis and an agent on this machine",
                            "keel init digitalocean     # droplets, a managed database and a load balancer",
                            "keel init ssh --dir ops    # servers you already own, reached over SSH"},
                           {{0, "keel.yaml written (or --list printed)"},
                            {1, "error: an unknown template, or keel.yaml exists (--force overwrites it)"}}));
  on_chosen(*init, ctx, options, [](Context& ctx, const InitOptions& o) {
    InitOptions asked = o;
    asked.json = ctx.global.json;
    if (auto s = run_init(asked, find_template_dir()); !s) return report_error(ctx, s.error().with_context("init"));
    return static_cast<int>(kExitOk);
  });
}

}  // namespace

void add_init_command(CLI::App& root, Context& ctx) {
  declare_command(root, ctx, "init", "write a commented starting stack (keel.yaml) from a template", fill_init);
}

}  // namespace keel::commands
