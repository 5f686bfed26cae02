// errseq-demo: the core at work, as a table a person can read. One file's mapping, four open
// file descriptions (A-D), a script of writeback failures and fsync calls, and what each call
// returns under three trackings side by side: errseq (mainline, 4.17+), errseq as in 4.13-4.16,
// and the legacy pre-4.13 flags. Until the page cache exists this drives the core directly;
// each "fsync" here is exactly the reporting step fsync performs (check-and-advance the
// description's cursor; legacy: test-and-clear the mapping's flags).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "errseq/core/errno_name.h"
#include "errseq/core/errseq.h"
#include "errseq/core/legacy_errors.h"

namespace {

using errseq::Errseq;
using errseq::errseq_t;

// One tracking world: the mapping's state and every description's cursor.
struct World {
  Errseq::SampleMode mode;
  bool legacy;
  Errseq wb_err;
  errseq::LegacyErrors flags;
  std::map<char, errseq_t> cursors;
  std::map<char, int> told;  // how many errors each description was told

  World(Errseq::SampleMode m, bool l) : mode(m), legacy(l) {}
  void Open(char fd) { cursors[fd] = wb_err.Sample(mode); }
  void Fail(int err) {
    wb_err.Set(err);
    flags.Set(err);
  }
  int Fsync(char fd) {
    int e = legacy ? flags.TestAndClear() : wb_err.CheckAndAdvance(&cursors[fd]);
    if (!legacy) (void)flags.TestAndClear();  // fsync always clears the legacy pair too
    if (e != 0) ++told[fd];
    return e;
  }
};

std::string Result(int e) { return e == 0 ? "0" : errseq::ErrnoName(e); }

int Usage(FILE* out, int code) {
  std::fprintf(out,
               "usage: errseq-demo\n"
               "Shows, step by step, what fsync on each of four open file descriptions of one\n"
               "file returns after writeback errors, under errseq (mainline), errseq as in\n"
               "Linux 4.13-4.16, and the legacy pre-4.13 error flags.\n");
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

  World mainline(Errseq::SampleMode::kMainline, false);
  World v413(Errseq::SampleMode::kV4_13, false);
  World legacy(Errseq::SampleMode::kMainline, true);
  World* worlds[] = {&mainline, &v413, &legacy};

  struct Step {
    char kind;  // 'o' open, 'f' fsync, 'e' writeback error
    char fd;
    int err;
    const char* why;
  };
  const std::vector<Step> script = {
      {'o', 'A', 0, "A and B are open on the file"},
      {'o', 'B', 0, ""},
      {'e', 0, -EIO, "writeback of a dirty page fails"},
      {'f', 'A', 0, "every description is told once"},
      {'f', 'B', 0, "legacy: only the first caller"},
      {'f', 'A', 0, "already told: 0"},
      {'o', 'C', 0, "C opens after A and B were told"},
      {'f', 'C', 0, "nothing new since C opened"},
      {'e', 0, -EIO, "two failures before anyone looks"},
      {'e', 0, -ENOSPC, "(the latest errno is kept)"},
      {'o', 'D', 0, "D opens while that error is unseen"},
      {'f', 'D', 0, "late opener told (4.13: no); legacy: EIO wins"},
      {'f', 'A', 0, "legacy: D already consumed it"},
      {'f', 'B', 0, ""},
      {'f', 'C', 0, ""},
      {'f', 'D', 0, "told once, then 0"},
  };

  std::printf("errseq-demo: one file, four open file descriptions (A-D), writeback errors,\n"
              "and what each fsync returns under three ways of tracking errors.\n\n");
  std::string header = fmt::format("{:>3}  {:<28}  {:<16}  {:>8}  {:>8}  {:>8}  {}", "#",
                                   "event", "errseq value", "errseq", "4.13", "legacy", "note");
  std::printf("%s\n%s\n", header.c_str(), std::string(header.size() + 28, '-').c_str());
  int n = 0;
  for (const Step& s : script) {
    std::string event, cols[3];
    switch (s.kind) {
      case 'o':
        event = fmt::format("open {}", s.fd);
        for (World* w : worlds) w->Open(s.fd);
        break;
      case 'e':
        event = fmt::format("writeback error {}", errseq::ErrnoName(s.err));
        for (World* w : worlds) w->Fail(s.err);
        break;
      default:
        event = fmt::format("fsync {}", s.fd);
        for (int i = 0; i < 3; ++i) cols[i] = Result(worlds[i]->Fsync(s.fd));
        break;
    }
    std::printf("%s\n", fmt::format("{:>3}  {:<28}  {:<16}  {:>8}  {:>8}  {:>8}  {}", ++n, event,
                                    Errseq::Describe(mainline.wb_err.Load()), cols[0], cols[1],
                                    cols[2], s.why)
                            .c_str());
  }
  std::printf("\nErrors told to each description (two failure episodes happened while A and B\n"
              "were open; C opened after the first was told, D while the second was unseen):\n");
  std::printf("%s\n", fmt::format("{:>6}  {:>8}  {:>8}  {:>8}", "", "errseq", "4.13", "legacy")
                          .c_str());
  for (char fd : {'A', 'B', 'C', 'D'}) {
    std::printf("%s\n", fmt::format("{:>6}  {:>8}  {:>8}  {:>8}", fd, mainline.told[fd],
                                    v413.told[fd], legacy.told[fd])
                            .c_str());
  }
  std::printf("\nUnder legacy tracking one caller consumes each error and the others never hear "
              "of it;\nunder errseq every description that was open when the error happened is "
              "told exactly once.\n");
  return 0;
}
