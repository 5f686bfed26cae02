// Randomized concurrency test (run under ThreadSanitizer): threads x files x descriptions doing
// writes (whole and partial pages), punches and zero-ranges, fsyncs, syncfs, opens and closes while a fault switches on and off, with the flusher
// writing back in the background and write-behind syncing the host files (every 16 KiB written
// back; a persist of the file the fault is armed for fails too). The real stack runs (passthrough on a temp dir); a model of
// error epochs checks every report:
//  1. nobody is told the same error twice: between two reports to one description, some error
//     on that file must have started after the first report began;
//  2. nobody is told an error that was already seen before it opened: a description whose
//     sample at open was a seen value is told nothing until a newer error starts;
//  3. nobody misses one: an error that started after a description's previous check ended and
//     was recorded before its next check began is reported by that check; after quiescence one
//     more error reaches every open description exactly once;
//  4. nothing is dropped: after quiescence every failure the file system returned was recorded.
// "Started" counts failed page writes as the file system returns them (before the errseq set);
// "done" counts records as the super block announces them (after the set). Seeded:
// ERRSEQ_SEED and ERRSEQ_CONCURRENCY_OPS override.
#include <fcntl.h>
#include <linux/falloc.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "../support/temp_dir.h"
#include "errseq/block/fault_table_text.h"
#include "errseq/fs/passthrough_fs.h"
#include "errseq/vfs/super_block.h"

namespace errseq {
namespace {

constexpr int kFiles = 3;

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : def;
}

struct Counters {
  std::atomic<uint64_t> started[kFiles];
  std::atomic<uint64_t> done[kFiles];
  std::atomic<uint64_t> sb_started{0}, sb_done{0};
  std::atomic<int> failing{-1};  // the file whose write-behind persists fail now, or -1
};

// Wraps the real passthrough data path of one file to count failures as they are returned.
class CountingOps final : public mm::AddressSpaceOps {
 public:
  CountingOps(std::shared_ptr<mm::AddressSpaceOps> inner, Counters* c, int file)
      : inner_(std::move(inner)), c_(c), file_(file) {}
  Status ReadPages(uint64_t i, std::span<const iovec> p) override { return inner_->ReadPages(i, p); }
  Status WritePages(uint64_t i, std::span<const iovec> p, uint64_t size) override {
    Status s = inner_->WritePages(i, p, size);
    if (!s.ok()) {
      c_->started[file_].fetch_add(1);
      c_->sb_started.fetch_add(1);
    }
    return s;
  }
  Status Sync(bool d) override { return inner_->Sync(d); }
  Status Persist() override {
    if (c_->failing.load() == file_) {  // counted before the mapping records it, as above
      c_->started[file_].fetch_add(1);
      c_->sb_started.fetch_add(1);
      return Status::Error(-EIO);
    }
    return inner_->Persist();
  }
  Result<uint64_t> BackingSize() override { return inner_->BackingSize(); }
  Status Fallocate(int mode, uint64_t off, uint64_t len) override {
    return inner_->Fallocate(mode, off, len);
  }

 private:
  std::shared_ptr<mm::AddressSpaceOps> inner_;
  Counters* c_;
  int file_;
};

class CountingFs final : public vfs::FileSystem {
 public:
  CountingFs(std::unique_ptr<fs::PassthroughFs> inner, Counters* c) : in_(std::move(inner)), c_(c) {}
  std::string TypeName() const override { return "counting"; }
  Result<vfs::NodeAttr> GetAttr(const std::string& p) override { return in_->GetAttr(p); }
  Result<vfs::NodeAttr> Create(const std::string& p, mode_t m, bool x) override {
    return in_->Create(p, m, x);
  }
  Result<std::shared_ptr<mm::AddressSpaceOps>> OpenData(const std::string& p,
                                                        const vfs::NodeAttr& a) override {
    auto ops = in_->OpenData(p, a);
    if (!ops.ok()) return ops;
    int file = p[1] - '0';  // "f0".."f2"
    return std::shared_ptr<mm::AddressSpaceOps>(std::make_shared<CountingOps>(*ops, c_, file));
  }
  Status Truncate(const std::string& p, uint64_t s) override { return in_->Truncate(p, s); }
  Status SetAttr(const std::string& p, const vfs::AttrChange& c) override { return in_->SetAttr(p, c); }
  Status Symlink(const std::string& t, const std::string& p) override { return in_->Symlink(t, p); }
  Result<std::string> Readlink(const std::string& p) override { return in_->Readlink(p); }
  Result<vfs::NodeAttr> GetAttrFollow(const std::string& p) override {
    return in_->GetAttrFollow(p);
  }
  Status Mkdir(const std::string& p, mode_t m) override { return in_->Mkdir(p, m); }
  Status Rmdir(const std::string& p) override { return in_->Rmdir(p); }
  Status Unlink(const std::string& p) override { return in_->Unlink(p); }
  Status Rename(const std::string& a, const std::string& b) override { return in_->Rename(a, b); }
  Status Link(const std::string& a, const std::string& b) override { return in_->Link(a, b); }
  Result<std::vector<vfs::DirEntry>> ReadDir(const std::string& p) override {
    return in_->ReadDir(p);
  }
  Status SyncFs() override { return in_->SyncFs(); }
  Result<struct statvfs> StatFs() override { return in_->StatFs(); }

 private:
  std::unique_ptr<fs::PassthroughFs> in_;
  Counters* c_;
};

// One description owned by one worker thread, with what the model knows about it.
struct Desc {
  std::shared_ptr<vfs::File> file;
  int index;
  uint64_t started_after_prev;       // started[] after its previous check (or open) ended
  uint64_t done_before_last_report;  // done[] before the call that last reported
  bool reported = false;
  bool opened_on_seen;  // its sample at open was a seen value
  uint64_t done_before_open;
  // The same for the super-block cursor.
  uint64_t sb_started_after_prev;
  uint64_t sb_done_before_last_report = 0;
  bool sb_reported = false;
};

TEST(ConcurrencyModel, NoDoubleReportsNoMissedReportsUnderRandomFaults) {
  const uint64_t seed = EnvOr("ERRSEQ_SEED", 2026);
  const uint64_t total_ops = EnvOr("ERRSEQ_CONCURRENCY_OPS", 100'000);
  constexpr int kThreads = 3;

  testing::TempDir dir;
  auto faults = std::make_shared<block::FaultInjector>();
  Counters c;
  for (int i = 0; i < kFiles; ++i) c.started[i] = c.done[i] = 0;
  std::map<uint64_t, int> file_of_ino;
  vfs::MountOptions o;
  o.writeback.dirty_expire_ms = 2;
  o.writeback.wakeup_ms = 1;
  o.writeback.persist_after_bytes = 16 << 10;
  o.on_error = [&](const vfs::Event& e) {
    auto it = file_of_ino.find(e.ino);  // written before any I/O, read-only after
    if (it != file_of_ino.end()) c.done[it->second].fetch_add(1);
    c.sb_done.fetch_add(1);
  };
  auto pfs = fs::PassthroughFs::Open(dir.path(), faults);
  ASSERT_TRUE(pfs.ok());
  auto sb_r = vfs::SuperBlock::Mount(std::make_unique<CountingFs>(std::move(*pfs), &c), o);
  ASSERT_TRUE(sb_r.ok());
  vfs::SuperBlock& sb = **sb_r;
  for (int i = 0; i < kFiles; ++i) {
    auto f = sb.Open("f" + std::to_string(i), O_RDWR | O_CREAT);
    ASSERT_TRUE(f.ok());
    file_of_ino[sb.Fstat(**f).ino] = i;
  }

  std::atomic<uint64_t> violations{0}, reports{0}, ops{0};
  std::mutex msg_mu;
  std::string first_violation;
  auto violation = [&](const std::string& what) {
    violations.fetch_add(1);
    std::lock_guard l(msg_mu);
    if (first_violation.empty()) first_violation = what;
  };

  auto open_desc = [&](int index) {
    Desc d;
    d.index = index;
    d.done_before_open = c.done[index].load();
    d.file = *sb.Open("f" + std::to_string(index), O_RDWR);
    d.opened_on_seen = d.file->wb_cursor() != 0;
    d.started_after_prev = c.started[index].load();
    d.sb_started_after_prev = c.sb_started.load();
    return d;
  };

  // One fsync (or syncfs) checked against the model.
  auto check_fsync = [&](Desc& d) {
    const uint64_t done_before = c.done[d.index].load();
    int err = sb.Fsync(*d.file).err();
    const uint64_t started_after = c.started[d.index].load();
    if (err != 0) {
      reports.fetch_add(1);
      if (d.reported && started_after <= d.done_before_last_report) {
        violation("told twice: file " + std::to_string(d.index));
      }
      if (!d.reported && d.opened_on_seen && started_after <= d.done_before_open) {
        violation("told an error already seen before it opened: file " + std::to_string(d.index));
      }
      d.reported = true;
      d.done_before_last_report = done_before;
    } else if (done_before > d.started_after_prev) {
      violation("missed an error: file " + std::to_string(d.index));
    }
    d.started_after_prev = started_after;
  };
  auto check_syncfs = [&](Desc& d) {
    const uint64_t done_before = c.sb_done.load();
    int err = sb.Syncfs(*d.file).err();
    const uint64_t started_after = c.sb_started.load();
    if (err != 0) {
      if (d.sb_reported && started_after <= d.sb_done_before_last_report) {
        violation("syncfs told twice");
      }
      d.sb_reported = true;
      d.sb_done_before_last_report = done_before;
    } else if (done_before > d.sb_started_after_prev) {
      violation("syncfs missed an error");
    }
    d.sb_started_after_prev = started_after;
  };

  std::atomic<bool> stop{false};
  std::thread toggler([&] {
    std::mt19937_64 rng(seed ^ 0x5eed);
    while (!stop.load()) {
      if (rng() % 2) {
        const int file = static_cast<int>(rng() % kFiles);
        faults->Load(*block::ParseFaultTable("0 * write error " +
                                             std::string(rng() % 2 ? "EIO" : "ENOSPC") +
                                             " path=f" + std::to_string(file)));
        c.failing = file;
      } else {
        faults->Clear();
        c.failing = -1;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 800));
    }
  });

  std::vector<std::vector<Desc>> finals(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(seed + static_cast<uint64_t>(t));
      std::vector<Desc> mine;
      for (int i = 0; i < 4; ++i) mine.push_back(open_desc(static_cast<int>(rng() % kFiles)));
      std::vector<std::byte> buf(4096);
      while (ops.fetch_add(1) < total_ops) {
        Desc& d = mine[rng() % mine.size()];
        int op = static_cast<int>(rng() % 100);
        if (op < 50) {
          std::fill(buf.begin(), buf.end(), std::byte(rng()));
          (void)sb.Pwrite(*d.file, buf, (rng() % 16) * 4096);
        } else if (op < 53) {
          // A partial write (the page is read in) or a punch / zero-range over dirty pages,
          // pages under writeback and pages being read in: drops what would have failed.
          const uint64_t off = (rng() % 16) * 4096 + rng() % 4096;
          if (rng() % 2) {
            (void)sb.Pwrite(*d.file, std::span(buf).first(1 + rng() % 100), off);
          } else {
            const int mode = (rng() % 2 ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
                             FALLOC_FL_KEEP_SIZE;
            (void)sb.Fallocate(*d.file, mode, off, 1 + rng() % (3 * 4096));
          }
        } else if (op < 85) {
          check_fsync(d);
        } else if (op < 90) {
          check_syncfs(d);
        } else {
          d = open_desc(static_cast<int>(rng() % kFiles));  // close one, open another
        }
      }
      finals[t] = std::move(mine);
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  toggler.join();
  faults->Clear();
  c.failing = -1;

  // Quiescent: bring every description up to date (checked), then one more error on each file
  // reaches every description of it exactly once.
  for (auto& v : finals) {
    for (auto& d : v) check_fsync(d);
  }
  for (int i = 0; i < kFiles; ++i) {
    auto f = sb.Open("f" + std::to_string(i), O_RDWR);
    faults->Load(*block::ParseFaultTable("0 * write error EIO path=f" + std::to_string(i)));
    std::vector<std::byte> b(4096, std::byte(1));
    ASSERT_TRUE(sb.Pwrite(**f, b, 0).ok());
    sb.Sync();
    faults->Clear();
  }
  for (auto& v : finals) {
    for (auto& d : v) {
      EXPECT_EQ(sb.Fsync(*d.file).err() != 0, true) << "seed " << seed;
      EXPECT_EQ(sb.Fsync(*d.file).err(), 0) << "seed " << seed;
    }
  }
  EXPECT_EQ(violations.load(), 0u) << "seed " << seed << ": " << first_violation;
  // Every failure the file system returned (page write or persist) was recorded: none dropped.
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(c.started[i].load(), c.done[i].load()) << "file f" << i << ", seed " << seed;
  }
  EXPECT_GT(reports.load(), 100u) << "the faults hardly ever fired: the test proves little";
  EXPECT_GT(sb.WritebackStats().persists, 10u) << "write-behind hardly ever ran";
  EXPECT_GE(ops.load(), total_ops);
  finals.clear();
  (void)(*sb_r)->Unmount();
}

}  // namespace
}  // namespace errseq
