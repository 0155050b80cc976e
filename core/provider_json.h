#pragma once
// JSON forms of the provider contract's types, shared by the plugin client
// (cli/providers/plugin) and the plugin SDK (plugins/sdk). The field names
// are the wire format of docs/plugin-protocol.md: change both together.
//
// The *_from_json functions never throw: a missing or mistyped field is an
// ErrorCode::Protocol error naming the field. Optional fields may be absent
// (or null); attribute objects default to {}. ProgressFn members do not
// travel: progress has its own notification in the protocol.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/provider.h"

namespace keel::provider {

nlohmann::json to_json(const AttributeSchema& a);
nlohmann::json to_json(const KindSchema& k);
nlohmann::json to_json(const ProviderSchema& s);
Result<AttributeSchema> attribute_schema_from_json(const nlohmann::json& j);
Result<KindSchema> kind_schema_from_json(const nlohmann::json& j);
Result<ProviderSchema> provider_schema_from_json(const nlohmann::json& j);

nlohmann::json to_json(const ResourceTags& t);
// Lenient: missing fields are empty strings (tags are informational).
ResourceTags tags_from_json(const nlohmann::json& j);

// Requests and responses, one pair of functions per struct.
nlohmann::json to_json(const ConfigureRequest& r);
Result<ConfigureRequest> configure_request_from_json(const nlohmann::json& j);
nlohmann::json to_json(const CreateRequest& r);
Result<CreateRequest> create_request_from_json(const nlohmann::json& j);
nlohmann::json to_json(const CreateResponse& r);
Result<CreateResponse> create_response_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ReadRequest& r);
Result<ReadRequest> read_request_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ReadResponse& r);
Result<ReadResponse> read_response_from_json(const nlohmann::json& j);
nlohmann::json to_json(const UpdateRequest& r);
Result<UpdateRequest> update_request_from_json(const nlohmann::json& j);
nlohmann::json to_json(const UpdateResponse& r);
Result<UpdateResponse> update_response_from_json(const nlohmann::json& j);
nlohmann::json to_json(const DeleteRequest& r);
Result<DeleteRequest> delete_request_from_json(const nlohmann::json& j);
nlohmann::json to_json(const FindRequest& r);
Result<FindRequest> find_request_from_json(const nlohmann::json& j);
nlohmann::json to_json(const FindResponse& r);
Result<FindResponse> find_response_from_json(const nlohmann::json& j);

// JSON-RPC 2.0 error codes used by the protocol.
inline constexpr int kRpcOperationFailed = -32000;  // the provider operation failed
inline constexpr int kRpcInvalidRequest = -32600;   // not a JSON-RPC request object
inline constexpr int kRpcMethodNotFound = -32601;
inline constexpr int kRpcInvalidParams = -32602;
inline constexpr int kRpcParseError = -32700;       // the line is not JSON

// What a cloud said about a failure, beyond keel's Error (code + message).
struct ErrorDetails {
  std::optional<int> http_status;
  std::optional<std::string> cloud_message;
};

// The JSON-RPC error object {code, message, data: {kind, retryable,
// http_status, cloud_message}}; `kind` is to_string(error.code()), retryable
// is true for Transient and Timeout.
nlohmann::json error_to_json(const Error& error, int rpc_code = kRpcOperationFailed,
                             const ErrorDetails& details = {});
// Back to an Error: the code from data.kind (Protocol for the JSON-RPC
// protocol-level codes, Transient for an unknown kind marked retryable),
// the message with the HTTP status and cloud message appended when the
// message does not already carry them.
Error error_from_json(const nlohmann::json& error_object);

std::optional<ErrorCode> error_code_from_string(const std::string& name);

}  // namespace keel::provider
