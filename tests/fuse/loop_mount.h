// LoopMount: a FUSE file system served by the test process itself on a fresh temporary
// directory, its requests read by a SessionLoop on a thread of its own, ended with
// `fusermount3 -u`. Shared by the request-loop tests (session_loop_test, uring_channel_test):
// each supplies its ops table, and may attach something to the session before the loop reads
// its first request (the io_uring channel). Callers skip first where FUSE is missing
// (SKIP_WITHOUT_FUSE).
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse3/fuse_lowlevel.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "errseq/fuse/session_loop.h"
#include "mount_support.h"

namespace errseq::fuse {

class LoopMount {
 public:
  struct Setup {
    std::vector<std::string> args;  // fuse_session_new's arguments after the program name
    SessionLoop::Options loop;
    // Called once mounted, before the loop runs (the session exists and reads nothing yet).
    std::function<void(fuse_session*)> before_loop;
  };

  LoopMount(const fuse_lowlevel_ops& ops, Setup setup) {
    std::vector<std::string> words{"errseq_loop_mount"};
    words.insert(words.end(), setup.args.begin(), setup.args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    se_ = fuse_session_new(&fargs, &ops, sizeof ops, nullptr);
    fuse_opt_free_args(&fargs);
    if (!se_ || fuse_session_mount(se_, dir_.path().c_str()) != 0) return;
    mounted_ = true;
    loop_ = std::make_unique<SessionLoop>(se_, setup.loop);
    if (setup.before_loop) setup.before_loop(se_);
    result_ = std::async(std::launch::async, [this] { return loop_->Run(); });
  }
  // Unmounts and waits for the loop (if the test has not), then destroys the session.
  ~LoopMount() {
    End();
    if (se_) {
      if (mounted_) fuse_session_unmount(se_);
      fuse_session_destroy(se_);
    }
  }
  LoopMount(const LoopMount&) = delete;
  LoopMount& operator=(const LoopMount&) = delete;

  bool mounted() const { return mounted_; }
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  fuse_session* session() { return se_; }
  void Unmount() {
    ::errseq::testing::RunProgram({"fusermount3", "-u", "-q", dir_.path()}, nullptr);
  }
  // Unmounts and waits until the loop has ended.
  void End() {
    if (!mounted_ || !result_.valid()) return;
    Unmount();
    result_.wait();
  }
  // The loop's result, or nullopt if it has not ended within `wait` (or was collected).
  std::optional<int> Result(std::chrono::milliseconds wait) {
    if (!result_.valid() || result_.wait_for(wait) != std::future_status::ready) {
      return std::nullopt;
    }
    return result_.get();
  }

 private:
  ::errseq::testing::TempDir dir_;
  fuse_session* se_ = nullptr;
  bool mounted_ = false;
  std::unique_ptr<SessionLoop> loop_;
  std::future<int> result_;
};

}  // namespace errseq::fuse
