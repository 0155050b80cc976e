// keel-agent: the on-host daemon. This is a stub until the agent issue lands:
// it answers --version and --help so that packaging and install can be built.
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("keel-agent %s\n", KEEL_VERSION);
      return 0;
    }
  }
  std::fprintf(stderr, "keel-agent %s: not implemented yet (only --version)\n", KEEL_VERSION);
  return 1;
}
