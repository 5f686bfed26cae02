// errseqctl: arms faults and reads the ledger of a mounted errseqfs through its control socket.
//
//   errseqctl [-s SOCKET | -m MOUNTPOINT] [--json] VERB ...
//     fail OP data PATH [ERRNO] | fail OP device [ERRNO]    OP: read, write, all
//     heal | load FILE | show | stats | events [--follow] | sync | syncfs PATH
//     evict PATH | crash
//
// Without -s/-m: $ERRSEQ_CTL, else the only socket in the default directory. Exit status:
// 0 done; 1 the mount could not be reached; 2 bad input (one line says what).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "errseq/core/read_file.h"
#include "errseq/ctl/control_client.h"
#include "errseq/ctl/control_server.h"

using errseq::Status;

namespace {

using nlohmann::json;

int Fail(int code, const std::string& what) {
  std::fprintf(stderr, "errseqctl: %s\n", what.c_str());
  return code;
}

std::string FindSocket(const std::string& socket, const std::string& mountpoint) {
  if (!socket.empty()) return socket;
  if (!mountpoint.empty()) return errseq::ctl::ControlServer::DefaultSocket(mountpoint);
  if (const char* e = std::getenv("ERRSEQ_CTL"); e && *e) return e;
  std::string dir = std::filesystem::path(errseq::ctl::ControlServer::DefaultSocket("/")).parent_path();
  std::string found;
  std::error_code ec;
  for (auto& f : std::filesystem::directory_iterator(dir, ec)) {
    if (f.path().extension() == ".sock") {
      if (!found.empty()) return "";  // ambiguous
      found = f.path();
    }
  }
  return found;
}

void PrintEvent(const json& e) {
  if (e["kind"] == "recorded") {
    // No byte range: the store's sync of the file failed (at an fsync, or a background persist).
    const auto len = e["length"].get<unsigned long long>();
    const auto off = e["offset"].get<unsigned long long>();
    const std::string where = len == 0 ? std::string("in a sync of its store")
                                       : "bytes " + std::to_string(off) + "+" + std::to_string(len);
    std::printf("#%llu recorded %s on %s %s (errseq %s)\n", e["seq"].get<unsigned long long>(),
                e["errno"].get<std::string>().c_str(), e["path"].get<std::string>().c_str(),
                where.c_str(), e["errseq"].get<std::string>().c_str());
  } else {
    std::printf("#%llu told %s to file %llu (pid %d) by %s on %s\n",
                e["seq"].get<unsigned long long>(), e["errno"].get<std::string>().c_str(),
                e["file"].get<unsigned long long>(), e["pid"].get<int>(),
                e["call"].get<std::string>().c_str(), e["path"].get<std::string>().c_str());
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"errseqctl: arm faults and read the ledger of a mounted errseqfs"};
  app.require_subcommand(1);
  std::string socket, mountpoint;
  bool as_json = false;
  app.add_option("-s,--socket", socket, "the mount's control socket");
  app.add_option("-m,--mount", mountpoint, "the mountpoint (finds its default socket)");
  app.add_flag("--json", as_json, "print the server's JSON reply");

  json req;
  std::vector<std::string> fail_args;
  auto* fail = app.add_subcommand("fail", "fail OP data PATH [ERRNO] | fail OP device [ERRNO]");
  fail->add_option("args", fail_args)->required()->expected(2, 4);
  app.add_subcommand("heal", "remove every fault");
  std::string load_file;
  app.add_subcommand("load", "replace the fault table with FILE")
      ->add_option("file", load_file)->required();
  app.add_subcommand("show", "the fault table and each rule's hits");
  app.add_subcommand("stats", "rule hits, dirty bytes, errors recorded and reported");
  bool follow = false;
  app.add_subcommand("events", "the ledger: who was told what")->add_flag("--follow", follow);
  app.add_subcommand("sync", "write back everything");
  std::string path;
  app.add_subcommand("syncfs", "syncfs through a fresh description of PATH")
      ->add_option("path", path)->required();
  app.add_subcommand("evict", "drop PATH's in-core inode")->add_option("path", path)->required();
  app.add_subcommand("crash", "lose everything not written back, then unmount");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  const std::string verb = app.get_subcommands()[0]->get_name();
  req["cmd"] = verb;
  if (verb == "fail") {
    req["op"] = fail_args[0];
    req["what"] = fail_args[1];
    size_t next = 2;
    if (fail_args[1] == "data") {
      if (fail_args.size() < 3) return Fail(2, "fail OP data needs a PATH");
      req["path"] = fail_args[2];  // absolute (through the mount) or relative to its root
      next = 3;
    } else if (fail_args[1] != "device") {
      return Fail(2, "expected 'fail OP data PATH [ERRNO]' or 'fail OP device [ERRNO]'");
    }
    if (fail_args.size() > next + 1) return Fail(2, "too many arguments to fail");
    if (fail_args.size() == next + 1) req["errno"] = fail_args[next];
  } else if (verb == "load") {
    auto text = errseq::ReadFile(load_file);
    if (!text.ok()) return Fail(2, text.status().message());
    req["text"] = *text;
  } else if (verb == "syncfs" || verb == "evict") {
    req["path"] = path;
  }

  std::string sock = FindSocket(socket, mountpoint);
  if (sock.empty()) return Fail(1, "no control socket found: give -s SOCKET or -m MOUNTPOINT");
  errseq::ctl::ControlClient conn;
  if (Status s = conn.Connect(sock); !s.ok()) return Fail(1, s.message());

  if (verb == "events") {
    // At most kPage events per call: ask again from the last one seen until a call brings
    // less than a page (caught up), or with --follow, forever.
    constexpr size_t kPage = 1000;
    uint64_t after = 0;
    for (bool first = true;; first = false) {
      json q = {{"cmd", "events"}, {"after", after}, {"max", kPage},
                {"wait_ms", follow ? 1000 : 0}};
      auto reply = conn.Call(q);
      if (!reply.ok()) return Fail(1, reply.status().message());
      const size_t got = (*reply)["events"].size();
      if (first && reply->value("dropped", uint64_t{0}) != 0) {
        std::cerr << "errseqctl: the ledger was full; its " << (*reply)["dropped"].get<uint64_t>()
                  << " oldest events were dropped\n";
      }
      for (auto& e : (*reply)["events"]) {
        after = e["seq"].get<uint64_t>();
        if (as_json) {
          std::cout << e.dump() << std::endl;
        } else {
          PrintEvent(e);
        }
      }
      if (!follow && got < kPage) break;
    }
    return 0;
  }
  auto r = conn.Call(req);
  if (!r.ok()) return Fail(1, r.status().message());
  json reply = *r;
  if (!reply.value("ok", false)) return Fail(2, reply.value("error", "failed"));
  if (as_json) {
    std::cout << reply.dump() << std::endl;
  } else if (verb == "fail") {
    std::printf("armed: %s\n", reply["rule"].get<std::string>().c_str());
  } else if (verb == "show" || verb == "stats") {
    for (auto& [k, v] : reply.items()) {
      if (k == "ok" || k == "rules") continue;
      std::printf("%s: %s\n", k.c_str(), v.dump().c_str());
    }
    for (auto& rule : reply["rules"]) {
      std::printf("rule: %s  hits %llu\n", rule["rule"].get<std::string>().c_str(),
                  rule["hits"].get<unsigned long long>());
    }
  } else if (verb == "syncfs") {
    std::printf("syncfs: %s\n", reply["result"].get<std::string>().c_str());
  } else if (verb == "evict") {
    // "kept: open" may also mean a close whose release errseqfs has not had yet (the kernel
    // sends it after close(2) returns).
    std::printf("%s\n", reply["evicted"].get<bool>()
                             ? "evicted"
                             : ("kept: " + reply.value("why", std::string("?"))).c_str());
  }
  return 0;
}
