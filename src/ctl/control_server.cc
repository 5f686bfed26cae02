// ControlServer (see include/errseq/ctl/control_server.h).
#include "errseq/ctl/control_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "errseq/block/fault_table_text.h"
#include "errseq/core/errno_name.h"
#include "errseq/mm/page_pool.h"
#include "errseq/vfs/path.h"

namespace errseq::ctl {
namespace {

using nlohmann::json;

json Error(const std::string& what) { return {{"ok", false}, {"error", what}}; }

std::string Str(const json& j, const char* key, const std::string& def = "") {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return def;
  return it->get<std::string>();
}

json EventJson(const vfs::Event& e) {
  json j = {{"seq", e.seq},
            {"time_ns", e.time_ns},
            {"kind", e.kind == vfs::Event::Kind::kRecorded ? "recorded" : "reported"},
            {"ino", e.ino},
            {"path", e.path},
            {"errno", ErrnoName(e.err)},
            {"errseq", Errseq::Describe(e.value)}};
  if (e.kind == vfs::Event::Kind::kRecorded) {
    j["offset"] = e.offset;
    j["length"] = e.length;
  } else {
    j["file"] = e.file_id;
    j["call"] = e.call;
    j["pid"] = e.pid;
  }
  return j;
}

}  // namespace

ControlServer::ControlServer(vfs::SuperBlock& sb, std::shared_ptr<block::FaultInjector> faults,
                             std::string mountpoint, Hooks hooks)
    : sb_(sb), faults_(std::move(faults)), mountpoint_(std::move(mountpoint)), hooks_(hooks) {}

ControlServer::~ControlServer() { Stop(); }

std::string ControlServer::DefaultSocket(const std::string& mountpoint) {
  std::error_code ec;
  std::string canon = std::filesystem::weakly_canonical(mountpoint, ec).string();
  if (ec) canon = mountpoint;
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  std::string dir = xdg && *xdg ? std::string(xdg) + "/errseqfs" : "/run/errseq";
  return fmt::format("{}/{:016x}.sock", dir, std::hash<std::string>{}(canon));
}

Status ControlServer::Start(const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof addr.sun_path) {
    return Status::Error(-ENAMETOOLONG, fmt::format("control socket path too long: {}", socket_path));
  }
  // A directory made here is private (0700). One that exists is the user's and keeps its mode:
  // `-o ctl=/tmp/x.sock` must not take /tmp from everybody else. The socket itself is 0600.
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path(socket_path).parent_path();
  if (!dir.empty() && std::filesystem::create_directories(dir, ec)) ::chmod(dir.c_str(), 0700);
  // A socket nobody answers on is stale; one that answers belongs to a live mount.
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::close(probe);
    return Status::Error(-EADDRINUSE, fmt::format("control socket {} is in use by another mount",
                                                  socket_path));
  }
  ::close(probe);
  ::unlink(socket_path.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  mode_t old = ::umask(0177);
  int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc != 0 || ::listen(listen_fd_, 16) != 0) {
    int e = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return Status::FromErrno(e, fmt::format("cannot listen on {}: {}", socket_path, strerror(e)));
  }
  ::chmod(socket_path.c_str(), 0600);
  socket_path_ = socket_path;
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return Status::Ok();
}

void ControlServer::Stop() {
  if (stop_.exchange(true)) return;
  if (listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<Worker> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
}

void ControlServer::AcceptLoop() {
  while (!stop_.load()) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::lock_guard lock(mu_);
    // Join connections that have ended, so threads do not pile up over a long mount.
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread([this, fd, done] {
                          Serve(fd);
                          done->store(true);
                        }),
                        done});
  }
}

void ControlServer::Serve(int fd) {
  timeval tv{1, 0};  // wake up now and then to notice Stop()
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string buf;
  char chunk[4096];
  while (!stop_.load()) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    if (buf.size() > (16 << 20)) break;  // a runaway client
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string reply = Handle(buf.substr(0, nl)) + "\n";
      buf.erase(0, nl + 1);
      for (size_t off = 0; off < reply.size();) {
        // MSG_NOSIGNAL: a client that went away must not kill the server with SIGPIPE.
        ssize_t w = ::send(fd, reply.data() + off, reply.size() - off, MSG_NOSIGNAL);
        if (w <= 0) {
          ::close(fd);
          return;
        }
        off += static_cast<size_t>(w);
      }
    }
  }
  ::close(fd);
}

std::string ControlServer::RelativePath(const std::string& path) const {
  std::string p = path;
  if (!p.empty() && p[0] == '/') {
    std::error_code ec;
    std::string mp = std::filesystem::weakly_canonical(mountpoint_, ec).string();
    if (!ec && p.compare(0, mp.size(), mp) == 0 && (p.size() == mp.size() || p[mp.size()] == '/')) {
      p = p.substr(mp.size());
    }
  }
  // The canonical form the file systems give the fault injector ("a/b", no "." or "..");
  // a path that cannot be normalised is returned as is and fails its lookup.
  auto norm = vfs::NormalizePath(p.empty() ? "/" : p);
  return norm.ok() ? *norm : p;
}

std::string ControlServer::Handle(const std::string& line) {
  json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) return Error("not a JSON object").dump();
  const std::string cmd = Str(req, "cmd");
  if (cmd == "fail") {
    const std::string op = Str(req, "op", "write");
    const std::string what = Str(req, "what", "device");
    block::FaultRule r;
    auto ops = block::VerbOps(op);
    if (!ops) return Error(fmt::format("unknown operation '{}' (expected read, write or all)", op)).dump();
    r.ops = *ops;
    int e = ErrnoFromName(Str(req, "errno", "EIO"));
    if (e == 0) return Error(fmt::format("unknown errno '{}'", Str(req, "errno"))).dump();
    r.err = -e;
    if (what == "data") {
      r.path = RelativePath(Str(req, "path"));
      if (r.path.empty()) return Error("fail ... data needs a PATH inside the mount").dump();
      auto attr = sb_.Stat(r.path);
      if (!attr.ok()) return Error(fmt::format("{}: {}", r.path, attr.status().ToString())).dump();
      r.file = sb_.FileIdentity(r.path);  // the blocks now holding PATH's data: this file's
    } else if (what != "device") {
      return Error(fmt::format("expected 'data PATH' or 'device', got '{}'", what)).dump();
    }
    std::lock_guard lock(mu_);
    rules_.insert(rules_.begin(), r);
    faults_->Load(rules_);
    return json({{"ok", true}, {"rule", block::FormatFaultRule(r)}}).dump();
  }
  if (cmd == "heal") {
    std::lock_guard lock(mu_);
    rules_.clear();
    faults_->Clear();
    return json({{"ok", true}}).dump();
  }
  if (cmd == "load") {
    auto rules = block::ParseFaultTable(Str(req, "text"));
    if (!rules.ok()) return Error(rules.status().message()).dump();
    std::lock_guard lock(mu_);
    rules_ = *rules;
    faults_->Load(std::move(*rules));
    return json({{"ok", true}, {"rules", rules_.size()}}).dump();
  }
  if (cmd == "show") {
    json rules = json::array();
    for (const auto& st : faults_->Current()->Stats()) {
      rules.push_back({{"rule", block::FormatFaultRule(st.rule)}, {"matched", st.matched},
                       {"hits", st.hits}});
    }
    return json({{"ok", true}, {"rules", rules}}).dump();
  }
  if (cmd == "stats") {
    auto w = sb_.WritebackStats();
    json rules = json::array();
    for (const auto& st : faults_->Current()->Stats()) {
      rules.push_back({{"rule", block::FormatFaultRule(st.rule)}, {"hits", st.hits}});
    }
    return json({{"ok", true},
                 {"profile", vfs::ProfileName(sb_.options().profile)},
                 {"policy", mm::PolicyName(sb_.options().policy)},
                 {"dirty_bytes", w.dirty_bytes},
                 {"writeback_bytes", w.writeback_bytes},
                 {"cached_bytes", w.cached_bytes},
                 {"throttled_writes", w.throttled},
                 {"cache_memory_bytes", mm::PagePool::Default().SlabBytes()},
                 {"written_bytes", w.written_bytes},
                 {"failed_writes", w.failed_writes},
                 {"background_persists", w.persists},
                 {"errors_recorded", sb_.ledger().recorded()},
                 {"errors_reported", sb_.ledger().reported()},
                 {"events_dropped", sb_.ledger().dropped()},
                 {"cached_inodes", sb_.CachedInodes()},
                 {"syncfs_mirror", hooks_.syncfs_mirror ? hooks_.syncfs_mirror() : false},
                 {"spliced_read_bytes",
                  hooks_.spliced_read_bytes ? hooks_.spliced_read_bytes() : uint64_t{0}},
                 {"fuse_transport", hooks_.fuse_transport ? hooks_.fuse_transport() : "none"},
                 {"io_uring_requests",
                  hooks_.io_uring_requests ? hooks_.io_uring_requests() : uint64_t{0}},
                 {"rules", rules}})
        .dump();
  }
  if (cmd == "events") {
    uint64_t after = req.value("after", uint64_t{0});
    size_t max = req.value("max", size_t{1000});
    int wait_ms = req.value("wait_ms", 0);
    json ev = json::array();
    for (const auto& e : sb_.ledger().Since(after, max, std::chrono::milliseconds(wait_ms))) {
      ev.push_back(EventJson(e));
    }
    return json({{"ok", true}, {"events", ev}, {"dropped", sb_.ledger().dropped()}}).dump();
  }
  if (cmd == "sync") {
    sb_.Sync();
    return json({{"ok", true}}).dump();
  }
  if (cmd == "syncfs") {
    auto f = sb_.Open(RelativePath(Str(req, "path")), O_RDONLY);
    if (!f.ok()) return Error(f.status().ToString()).dump();
    Status s = sb_.Syncfs(**f);
    return json({{"ok", true}, {"result", s.ok() ? "0" : ErrnoName(s.err())}}).dump();
  }
  if (cmd == "evict") {
    vfs::SuperBlock::Evicted why;
    auto r = sb_.Evict(RelativePath(Str(req, "path")), &why);
    if (!r.ok()) return Error(r.status().ToString()).dump();
    return json({{"ok", true}, {"evicted", *r}, {"why", vfs::SuperBlock::EvictedName(why)}})
        .dump();
  }
  if (cmd == "crash") {
    if (!hooks_.crash) return Error("crash is not supported by this mount").dump();
    hooks_.crash();
    return json({{"ok", true}}).dump();
  }
  return Error(fmt::format("unknown command '{}'", cmd)).dump();
}

}  // namespace errseq::ctl
