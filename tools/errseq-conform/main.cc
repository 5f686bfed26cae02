// errseq-conform: runs scenario files against a target and prints who got what, scenario by
// scenario and mode by mode. Exit 0 when every run passes, 1 on any mismatch, 2 on bad input.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "errseq/vfs/options.h"
#include "lib_target.h"
#include "mount_target.h"
#include "runner.h"
#include "scenario.h"

int main(int argc, char** argv) {
  CLI::App app{"errseq-conform: run errseq scenario files (.scn) against a target"};
  std::string target_name = "lib";
  std::string json_path;
  std::vector<std::string> paths;
  std::string root, ctl_socket, errseqfs_bin, errseqfs_options, evict;
  app.add_option("--target", target_name,
                 "where to run: lib (the in-process library) or mount (through errseqfs)")
      ->check(CLI::IsMember({"lib", "mount"}));
  app.add_option("--root", root, "mount target: an existing errseqfs mountpoint");
  app.add_option("--ctl", ctl_socket, "mount target: its control socket");
  app.add_option("--errseqfs", errseqfs_bin,
                 "mount target: launch this errseqfs binary for every mode (default: the one "
                 "next to errseq-conform)");
  app.add_option("--errseqfs-options", errseqfs_options,
                 "mount target: more -o options for every errseqfs it launches (e.g. io_uring=on)");
  app.add_option("--evict", evict,
                 "pin (errseq's default: an unseen error keeps its inode in core) or linux (the "
                 "inode and its unseen error go, as on Linux: for comparing with the kernel); "
                 "lib, and the errseqfs mounts the mount target launches")
      ->check(CLI::IsMember({"pin", "linux"}));
  app.add_option("--json", json_path, "also write the results as JSON to this file");
  app.add_option("paths", paths, "scenario files or directories of .scn files")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto files = errseq::conform::FindScenarioFiles(paths);
  if (!files.ok()) {
    std::fprintf(stderr, "errseq-conform: %s\n", files.status().message().c_str());
    return 2;
  }
  if (files->empty()) {
    std::fprintf(stderr, "errseq-conform: no .scn files found\n");
    return 2;
  }
  std::vector<errseq::conform::Scenario> scenarios;
  for (const auto& f : *files) {
    auto sc = errseq::conform::LoadScenario(f);
    if (!sc.ok()) {
      std::fprintf(stderr, "errseq-conform: %s\n", sc.status().message().c_str());
      return 2;
    }
    scenarios.push_back(std::move(*sc));
  }
  std::unique_ptr<errseq::conform::Target> target;
  if (target_name == "lib") {
    target = std::make_unique<errseq::conform::LibTarget>(
        *errseq::vfs::ParseEvictMode(evict.empty() ? "pin" : evict));  // checked by IsMember
  } else if (!root.empty() || !ctl_socket.empty()) {
    if (root.empty() || ctl_socket.empty()) {
      std::fprintf(stderr, "errseq-conform: --root and --ctl go together\n");
      return 2;
    }
    if (!evict.empty()) {
      std::fprintf(stderr, "errseq-conform: --evict: an existing mount evicts the way it was "
                           "mounted (errseqfs -o evict=)\n");
      return 2;
    }
    target = std::make_unique<errseq::conform::MountTarget>(root, ctl_socket);
  } else {
    if (errseqfs_bin.empty()) {
      std::error_code ec;
      auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
      errseqfs_bin = (self.parent_path() / "errseqfs" / "errseqfs").string();
    }
    if (::access(errseqfs_bin.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "errseq-conform: no errseqfs at %s (give --errseqfs)\n",
                   errseqfs_bin.c_str());
      return 2;
    }
    // errseqfs takes the last of repeated options: --errseqfs-options cannot undo --evict.
    if (!evict.empty()) {
      if (!errseqfs_options.empty()) errseqfs_options += ",";
      errseqfs_options += "evict=" + evict;
    }
    target = std::make_unique<errseq::conform::MountTarget>(
        errseq::conform::MountTarget::Errseqfs{errseqfs_bin, errseqfs_options});
  }
  std::vector<errseq::conform::RunResult> results;
  for (const auto& sc : scenarios) {
    auto r = errseq::conform::RunScenario(sc, *target);
    results.insert(results.end(), r.begin(), r.end());
  }
  errseq::conform::PrintReport(results, target->Name(), std::cout);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << errseq::conform::ReportJson(results, target->Name());
    if (!out) {
      std::fprintf(stderr, "errseq-conform: cannot write %s\n", json_path.c_str());
      return 2;
    }
  }
  for (const auto& r : results) {
    if (r.outcome == errseq::conform::RunResult::Outcome::kFail) return 1;
  }
  return 0;
}
