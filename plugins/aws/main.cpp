// keel-provider-aws: see provider.h.
#include "plugins/aws/provider.h"
#include "plugins/sdk/sdk.h"

int main() {
  keel::aws::AwsProvider provider;
  return keel::plugin::serve(provider);
}
