// core/module_loader: keel's modules (keel-net.so, keel-ssh.so, keel-crypto.so) as built
// beside keel, and the errors of a missing or foreign module.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "cli/ssh/ssh_module.h"
#include "core/crypto_module.h"
#include "core/module_loader.h"
#include "core/net_module.h"

using namespace keel;

namespace {

std::string build_dir() {
  const char* dir = std::getenv("KEEL_BUILD_DIR");
  return dir ? dir : ".";
}

}  // namespace

TEST_CASE("modules: looked for beside the binary, then in ../lib/keel", "[unit][modules]") {
  auto paths = modules::search_paths("keel-net.so");
  REQUIRE(paths.size() == 2);
  CHECK(paths[0].ends_with("/keel-net.so"));
  CHECK(paths[1].ends_with("/../lib/keel/keel-net.so"));
}

TEST_CASE("modules: a missing module is an error naming it and where it was looked for", "[unit][modules]") {
  auto table = modules::load("keel-no-such-module.so", "keel_no_such_module", 16);
  REQUIRE_FALSE(table);
  CHECK(table.error().code() == ErrorCode::Unavailable);
  CHECK_THAT(table.error().message(), Catch::Contains("keel-no-such-module.so is missing"));
  CHECK_THAT(table.error().message(), Catch::Contains("/../lib/keel/keel-no-such-module.so"));
}

TEST_CASE("modules: keel-net.so sends requests, keel-ssh.so connects", "[unit][modules]") {
  auto net = modules::load_file(build_dir() + "/keel-net.so", http::kNetModuleEntry, sizeof(http::NetModule));
  REQUIRE(net);
  // Port 1 on loopback: refused at once, which the client reports as
  // Unavailable (nothing was sent).
  http::Request request;
  request.url = "http://127.0.0.1:1/";
  auto response = static_cast<const http::NetModule*>(*net)->send(request);
  REQUIRE_FALSE(response);
  CHECK(response.error().code() == ErrorCode::Unavailable);

  auto ssh = modules::load_file(build_dir() + "/keel-ssh.so", ssh::kSshModuleEntry, sizeof(ssh::SshModule));
  REQUIRE(ssh);
  ssh::Target target;
  target.host = "127.0.0.1";
  target.port = 1;
  auto session = static_cast<const ssh::SshModule*>(*ssh)->connect(target);
  REQUIRE_FALSE(session);
  CHECK(session.error().code() == ErrorCode::Unavailable);
}

TEST_CASE("modules: keel-crypto.so hashes and seals as core/crypto does", "[unit][modules]") {
  auto table = modules::load_file(build_dir() + "/keel-crypto.so", crypto::kCryptoModuleEntry,
                                  sizeof(crypto::CryptoModule));
  REQUIRE(table);
  const auto& module = *static_cast<const crypto::CryptoModule*>(*table);
  // FIPS 180-2's "abc".
  CHECK(crypto::hex_encode(module.sha256_raw("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(module.sha256_raw("keel") == crypto::sha256_raw("keel"));
  // What the module seals, the linked code opens: one format on both sides.
  const crypto::Key key = crypto::random_key();
  auto opened = crypto::open(key, module.seal(key, "secret", "aad"), "aad");
  REQUIRE(opened);
  CHECK(*opened == "secret");
  auto certificates = module.generate_local_certificates({});
  REQUIRE(certificates);
  CHECK(tls::verify_server_certificate(certificates->server_cert_pem, certificates->ca_cert_pem, "127.0.0.1"));
}

TEST_CASE("modules: a module of another build is refused", "[unit][modules]") {
  auto net = modules::load_file(build_dir() + "/keel-net.so", http::kNetModuleEntry, sizeof(http::NetModule) + 8);
  REQUIRE_FALSE(net);
  CHECK(net.error().code() == ErrorCode::Internal);
  CHECK_THAT(net.error().message(), Catch::Contains("another build"));
  auto wrong = modules::load_file(build_dir() + "/keel-net.so", "keel_ssh_module", sizeof(http::NetModule));
  REQUIRE_FALSE(wrong);
  CHECK_THAT(wrong.error().message(), Catch::Contains("not a keel module"));
}
