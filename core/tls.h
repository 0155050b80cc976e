#pragma once
// TLS material for loopback services (the local provider's agents): a
// private certificate authority made on the spot and a server certificate it
// signs, as PEM text. The client trusts exactly that CA (for example through
// http::Request::ca_pem), so no system CA is involved and the CA's key is
// thrown away once the server certificate is signed: nothing else can ever
// be issued under it.
//
// Keys are ECDSA P-256, signatures SHA-256 (OpenSSL 3 EVP and X509 APIs).
// Safe to call from several threads at once.

#include <string>
#include <vector>

#include "core/error.h"

namespace keel::tls {

inline constexpr int kDefaultValidityDays = 825;  // the longest server certificate browsers accept

struct ServerCertificateRequest {
  std::string common_name = "keel-agent";
  std::vector<std::string> ip_addresses = {"127.0.0.1"};
  std::vector<std::string> dns_names = {"localhost"};
  int validity_days = kDefaultValidityDays;
};

struct LocalCertificates {
  std::string ca_cert_pem;      // the CA's self-signed certificate: what clients trust
  std::string server_cert_pem;  // the server's certificate, signed by the CA
  std::string server_key_pem;   // the server's private key (PKCS#8, unencrypted): keep it 0600
};

// A fresh CA and a server certificate for the request's addresses
// (SubjectAltName), signed by it. The CA's key is never returned.
Result<LocalCertificates> generate_local_certificates(const ServerCertificateRequest& request = {});

// Does `cert_pem` chain to `ca_pem`, is it valid now, and does it name
// `host` (an IP address or a DNS name)? The error says why not.
Status verify_server_certificate(const std::string& cert_pem, const std::string& ca_pem, const std::string& host);

// Does the private key belong to the certificate?
Status check_key_matches(const std::string& cert_pem, const std::string& key_pem);

}  // namespace keel::tls
