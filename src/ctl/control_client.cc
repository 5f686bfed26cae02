// ControlClient (see include/errseq/ctl/control_client.h).
#include "errseq/ctl/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace errseq::ctl {

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

Status ControlClient::Connect(const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof addr.sun_path) {
    return Status::Error(-ENAMETOOLONG, "socket path too long: " + socket_path);
  }
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    return Status::FromErrno(e, fmt::format("cannot reach {}: {}", socket_path, strerror(e)));
  }
  return Status::Ok();
}

Result<nlohmann::json> ControlClient::Call(const nlohmann::json& request) {
  std::string line = request.dump() + "\n";
  for (size_t off = 0; off < line.size();) {
    ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return Status::Error(-EPIPE, "the mount went away");
    off += static_cast<size_t>(n);
  }
  char buf[4096];
  while (pending_.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Error(-EPIPE, "the mount went away");
    pending_.append(buf, static_cast<size_t>(n));
  }
  size_t nl = pending_.find('\n');
  auto reply = nlohmann::json::parse(pending_.substr(0, nl), nullptr, false);
  pending_.erase(0, nl + 1);
  if (reply.is_discarded()) return Status::Error(-EPROTO, "the reply was not JSON");
  return reply;
}

}  // namespace errseq::ctl
