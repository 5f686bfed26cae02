// ControlClient: one connection to an errseqfs control socket; sends a JSON request line and
// waits for the reply line. Used by errseqctl and by errseq-conform's mount target.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "errseq/core/status.h"

namespace errseq::ctl {

class ControlClient {
 public:
  ControlClient() = default;
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  Status Connect(const std::string& socket_path);
  // The server's reply object; an error if the connection failed or the reply is not JSON.
  Result<nlohmann::json> Call(const nlohmann::json& request);

 private:
  int fd_ = -1;
  std::string pending_;
};

}  // namespace errseq::ctl
