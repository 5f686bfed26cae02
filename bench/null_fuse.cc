// null_fuse: the limit of FUSE itself for the benchmarks. A flat FUSE file system (libfuse3
// low-level, kernel writeback cache off like errseqfs) that accepts every write and discards
// it; reads return zeros up to the file's size; fsync and flush return 0. Names live in one map
// keyed by (parent, name) so that create/stat/unlink cost what FUSE costs. Like errseqfs, it
// serves requests with fuse::SessionLoop (same defaults; --libfuse-loop: libfuse's
// multi-threaded loop) and opens write-only files with direct_io. --uring carries requests over
// io_uring (fuse::UringChannel) when the kernel offers it, as errseqfs's -o io_uring=auto does.
//   null_fuse [--libfuse-loop] [--uring] MOUNTPOINT   (foreground; unmount with fusermount3 -u)
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "errseq/fuse/session_loop.h"
#include "errseq/fuse/uring_channel.h"

namespace {

struct Node {
  std::string name;
  mode_t mode;
  uint64_t size = 0;
};
std::mutex g_mu;
std::map<fuse_ino_t, Node> g_nodes;           // GUARDED_BY(g_mu)
std::map<std::pair<fuse_ino_t, std::string>, fuse_ino_t> g_by_name;  // GUARDED_BY(g_mu)
fuse_ino_t g_next = 2;

struct stat Attr(fuse_ino_t ino, const Node& n) {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = n.mode;
  st.st_nlink = 1;
  st.st_size = static_cast<off_t>(n.size);
  return st;
}

void Entry(fuse_req_t req, fuse_ino_t ino, const Node& n) {
  fuse_entry_param e{};
  e.ino = ino;
  e.attr = Attr(ino, n);
  e.attr_timeout = 0;
  e.entry_timeout = 1;
  fuse_reply_entry(req, &e);
}

void Init(void*, fuse_conn_info* conn) {
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->max_write = 1 << 20;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::lock_guard l(g_mu);
  auto it = g_by_name.find({parent, name});
  if (it == g_by_name.end()) return (void)fuse_reply_err(req, ENOENT);
  Entry(req, it->second, g_nodes[it->second]);
}

void Getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  std::lock_guard l(g_mu);
  auto it = g_nodes.find(ino);
  if (it == g_nodes.end()) return (void)fuse_reply_err(req, ENOENT);
  struct stat st = Attr(ino, it->second);
  fuse_reply_attr(req, &st, 0);
}

void Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  std::lock_guard l(g_mu);
  auto it = g_nodes.find(ino);
  if (it == g_nodes.end()) return (void)fuse_reply_err(req, ENOENT);
  if (to_set & FUSE_SET_ATTR_SIZE) it->second.size = static_cast<uint64_t>(attr->st_size);
  struct stat st = Attr(ino, it->second);
  fuse_reply_attr(req, &st, 0);
}

// Like errseqfs: a write-only open bypasses the kernel's page cache.
void DirectIfWriteOnly(fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) == O_WRONLY) fi->direct_io = 1;
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  DirectIfWriteOnly(fi);
  std::lock_guard l(g_mu);
  auto [it, fresh] = g_by_name.emplace(std::make_pair(parent, std::string(name)), g_next);
  if (fresh) g_nodes[g_next++] = {name, S_IFREG | (mode & 07777)};
  fuse_entry_param e{};
  e.ino = it->second;
  e.attr = Attr(it->second, g_nodes[it->second]);
  e.entry_timeout = 1;
  fuse_reply_create(req, &e, fi);
}

void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  std::lock_guard l(g_mu);
  auto [it, fresh] = g_by_name.emplace(std::make_pair(parent, std::string(name)), g_next);
  if (!fresh) return (void)fuse_reply_err(req, EEXIST);
  g_nodes[g_next++] = {name, S_IFDIR | (mode & 07777)};
  Entry(req, it->second, g_nodes[it->second]);
}

void Open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  DirectIfWriteOnly(fi);
  fuse_reply_open(req, fi);
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  uint64_t file_size;
  {
    std::lock_guard l(g_mu);
    file_size = g_nodes[ino].size;
  }
  size_t n = static_cast<uint64_t>(off) >= file_size ? 0 : std::min<uint64_t>(size, file_size - off);
  std::vector<char> zeros(n);
  fuse_reply_buf(req, zeros.data(), n);
}

void Write(fuse_req_t req, fuse_ino_t ino, const char*, size_t size, off_t off, fuse_file_info*) {
  {
    std::lock_guard l(g_mu);
    Node& n = g_nodes[ino];
    n.size = std::max<uint64_t>(n.size, static_cast<uint64_t>(off) + size);
  }
  fuse_reply_write(req, size);
}

void Ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }
void Fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::lock_guard l(g_mu);
  auto it = g_by_name.find({parent, name});
  if (it == g_by_name.end()) return (void)fuse_reply_err(req, ENOENT);
  g_nodes.erase(it->second);
  g_by_name.erase(it);
  fuse_reply_err(req, 0);
}

}  // namespace

int main(int argc, char** argv) {
  bool libfuse_loop = false, uring = false;
  int i = 1;
  for (; i < argc - 1; ++i) {
    if (std::strcmp(argv[i], "--libfuse-loop") == 0) libfuse_loop = true;
    else if (std::strcmp(argv[i], "--uring") == 0) uring = true;
    else break;
  }
  if (i != argc - 1) {
    std::fprintf(stderr, "usage: null_fuse [--libfuse-loop] [--uring] MOUNTPOINT\n");
    return 2;
  }
  const char* mountpoint = argv[argc - 1];
  g_nodes[FUSE_ROOT_ID] = {"", S_IFDIR | 0755};
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = Getattr;
  ops.setattr = Setattr;
  ops.create = Create;
  ops.mkdir = Mkdir;
  ops.open = Open;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Ok;
  ops.release = Ok;
  ops.fsync = Fsync;
  ops.unlink = Unlink;
  char prog[] = "null_fuse";
  char* args[] = {prog};
  fuse_args fargs = FUSE_ARGS_INIT(1, args);
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof ops, nullptr);
  fuse_opt_free_args(&fargs);
  if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mountpoint) != 0) {
    std::fprintf(stderr, "null_fuse: cannot mount on %s\n", mountpoint);
    return 1;
  }
  std::unique_ptr<errseq::fuse::UringChannel> channel;
  if (uring) {
    auto ch = errseq::fuse::UringChannel::Attach(se, {});
    if (!ch.ok()) std::fprintf(stderr, "null_fuse: no io_uring: %s\n", ch.status().ToString().c_str());
    else channel = std::move(*ch);
  }
  int rc;
  if (libfuse_loop) {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 8);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
  } else {
    rc = errseq::fuse::SessionLoop(se, errseq::fuse::SessionLoop::Options{}).Run();
  }
  if (channel) {
    channel->Stop();
    std::fprintf(stderr, "null_fuse: %llu requests through io_uring\n",
                 static_cast<unsigned long long>(channel->served()));
  }
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc < 0 ? 1 : 0;
}
