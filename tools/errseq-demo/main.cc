// errseq-demo: the library at work, as a table a person can read. The same script runs on two
// mounts of a passthrough file system over temporary directories, one tracking errors with
// errseq (Linux 4.17+), one with the legacy pre-4.13 flags. A real fault table makes the file's
// writeback fail; four open file descriptions (A-D) then call fsync, and the table shows side
// by side what each is told. The errseq mount's event ledger closes the show: every recorded
// error and every description that was told of it.
#include <fcntl.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "errseq/block/fault_table_text.h"
#include "errseq/core/errno_name.h"
#include "errseq/fs/passthrough_fs.h"
#include "errseq/vfs/super_block.h"

namespace {

using namespace errseq;

// One mount and the descriptions opened on it.
struct World {
  std::string dir;
  std::shared_ptr<block::FaultInjector> faults = std::make_shared<block::FaultInjector>();
  std::unique_ptr<vfs::SuperBlock> sb;
  std::map<char, std::shared_ptr<vfs::File>> files;
  std::map<char, int> told;

  static std::unique_ptr<World> Make(vfs::Profile profile) {
    auto w = std::make_unique<World>();
    std::string tmpl = (std::filesystem::temp_directory_path() / "errseq-demo-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return nullptr;
    w->dir = tmpl;
    auto fs = fs::PassthroughFs::Open(w->dir, w->faults);
    if (!fs.ok()) return nullptr;
    vfs::MountOptions o;
    o.profile = profile;
    o.writeback.start_flusher = false;  // the script says when writeback happens
    auto sb = vfs::SuperBlock::Mount(std::move(*fs), o);
    if (!sb.ok()) return nullptr;
    w->sb = std::move(*sb);
    return w;
  }
  ~World() {
    files.clear();
    if (sb) sb->Unmount().IgnoreError();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

struct Step {
  enum Kind { kOpen, kWrite, kFault, kHeal, kSync, kFsync } kind;
  char fd = 0;
  std::string arg;  // fault table line, or the byte written
  const char* note = "";
};

std::string Run(World& w, const Step& s) {
  switch (s.kind) {
    case Step::kOpen: {
      auto f = w.sb->Open("data.db", O_RDWR | O_CREAT);
      if (!f.ok()) return f.status().ToString();
      w.files[s.fd] = std::move(*f);
      return "";
    }
    case Step::kWrite: {
      std::vector<std::byte> page(4096, std::byte(s.arg[0]));
      auto n = w.sb->Pwrite(*w.files[s.fd], page, 0);
      return n.ok() ? "" : ErrnoName(n.err());
    }
    case Step::kFault:
      w.faults->Load(*block::ParseFaultTable(s.arg));
      return "";
    case Step::kHeal:
      w.faults->Clear();
      return "";
    case Step::kSync:
      w.sb->Sync();
      return "";
    case Step::kFsync: {
      int e = w.sb->Fsync(*w.files[s.fd]).err();
      if (e != 0) ++w.told[s.fd];
      return e == 0 ? "0" : ErrnoName(e);
    }
  }
  return "";
}

std::string Describe(const Step& s) {
  switch (s.kind) {
    case Step::kOpen: return fmt::format("open {}", s.fd);
    case Step::kWrite: return fmt::format("write via {}", s.fd);
    case Step::kFault: return "fault: " + s.arg;
    case Step::kHeal: return "heal";
    case Step::kSync: return "sync (writeback runs)";
    case Step::kFsync: return fmt::format("fsync {}", s.fd);
  }
  return "";
}

int Usage(FILE* out, int code) {
  std::fprintf(out,
               "usage: errseq-demo\n"
               "Runs one script on two in-process mounts of a passthrough file system (errseq\n"
               "and legacy error tracking) with a real injected writeback fault, and prints\n"
               "what fsync tells each of four open file descriptions, side by side.\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    return Usage(stdout, 0);
  }
  if (argc != 1) {
    std::fprintf(stderr, "errseq-demo: unexpected argument '%s'\n", argv[1]);
    return Usage(stderr, 2);
  }
  auto modern = World::Make(vfs::Profile::kErrseq);
  auto legacy = World::Make(vfs::Profile::kLegacy);
  if (!modern || !legacy) {
    std::fprintf(stderr, "errseq-demo: cannot set up a temporary directory\n");
    return 1;
  }
  const std::string kFault = "0 * write error EIO path=data.db";
  const std::vector<Step> script = {
      {Step::kOpen, 'A', "", "A and B open data.db"},
      {Step::kOpen, 'B', "", ""},
      {Step::kWrite, 'A', "a", ""},
      {Step::kFsync, 'A', "", "healthy disk: 0"},
      {Step::kFault, 0, kFault, "the disk starts failing"},
      {Step::kWrite, 'A', "b", ""},
      {Step::kSync, 0, "", "the page's write fails: recorded"},
      {Step::kFsync, 'A', "", "every description is told once"},
      {Step::kFsync, 'B', "", "legacy: only the first caller"},
      {Step::kFsync, 'A', "", "already told"},
      {Step::kOpen, 'C', "", "C opens after A and B were told"},
      {Step::kFsync, 'C', "", "nothing new since C opened"},
      {Step::kWrite, 'B', "c", ""},
      {Step::kSync, 0, "", "fails again; nobody looks"},
      {Step::kHeal, 0, "", "the disk recovers"},
      {Step::kOpen, 'D', "", "D opens while that error is unseen"},
      {Step::kWrite, 'A', "d", ""},
      {Step::kSync, 0, "", "a later write succeeds..."},
      {Step::kFsync, 'D', "", "...but does not erase the error"},
      {Step::kFsync, 'A', "", ""},
      {Step::kFsync, 'B', "", ""},
      {Step::kFsync, 'C', "", ""},
      {Step::kFsync, 'D', "", "told once, then 0"},
  };

  std::printf("errseq-demo: one file (data.db) on a passthrough file system, a failing disk\n"
              "(fault table: \"%s\"), four open file descriptions A-D.\n"
              "Each row runs on two mounts: errseq tracking and legacy (pre-4.13) tracking.\n\n",
              kFault.c_str());
  std::string header = fmt::format("{:>3}  {:<48}  {:>8}  {:>8}  {}", "#", "step", "errseq",
                                   "legacy", "note");
  std::printf("%s\n%s\n", header.c_str(), std::string(header.size() + 34, '-').c_str());
  int n = 0;
  for (const Step& s : script) {
    std::string a = Run(*modern, s), b = Run(*legacy, s);
    std::printf("%s\n", fmt::format("{:>3}  {:<48}  {:>8}  {:>8}  {}", ++n, Describe(s), a, b,
                                    s.note)
                            .c_str());
  }
  std::printf("\nErrors told to each description over the two failure episodes:\n");
  std::printf("%s\n", fmt::format("{:>6}  {:>8}  {:>8}", "", "errseq", "legacy").c_str());
  for (char fd : {'A', 'B', 'C', 'D'}) {
    std::printf("%s\n",
                fmt::format("{:>6}  {:>8}  {:>8}", fd, modern->told[fd], legacy->told[fd]).c_str());
  }
  std::map<uint64_t, char> name_of;
  for (auto& [c, f] : modern->files) name_of[f->id()] = c;
  std::printf("\nThe errseq mount's ledger (who was told what):\n");
  for (const auto& e : modern->sb->ledger().Since(0, 1000)) {
    if (e.kind == vfs::Event::Kind::kRecorded) {
      std::printf("  #%llu  recorded %s on %s, bytes %llu+%llu  (errseq now %s)\n",
                  static_cast<unsigned long long>(e.seq), ErrnoName(e.err).c_str(),
                  e.path.c_str(), static_cast<unsigned long long>(e.offset),
                  static_cast<unsigned long long>(e.length), Errseq::Describe(e.value).c_str());
    } else {
      std::printf("  #%llu  told %s to %c (pid %d) by %s\n", static_cast<unsigned long long>(e.seq),
                  ErrnoName(e.err).c_str(), name_of[e.file_id], e.pid, e.call.c_str());
    }
  }
  std::printf("\nUnder legacy tracking the first fsync consumes each error and the other\n"
              "descriptions never hear of it; under errseq every description that was open when\n"
              "the error happened, or opened while nobody had seen it, is told exactly once.\n");
  return 0;
}
