// keel-provider-digitalocean: DigitalOcean for keel, as a provider plugin
// (docs/plugin-protocol.md). Everything is in provider.h and the modules it
// lists; this only serves it on stdin/stdout.

#include "plugins/digitalocean/provider.h"
#include "plugins/sdk/sdk.h"

int main() {
  keel::digitalocean::DigitalOceanProvider provider;
  return keel::plugin::serve(provider);
}
