// KytkinProcess: the real `kytkin` binary as a child process, for end-to-end tests. Starts
// `kytkin serve` on a data dir with every port 0, waits for DATA_DIR/ports.json, and stops it
// with SIGTERM (or SIGKILL, to test a crash); it can be started again on the same data dir.
// Also runs one-shot subcommands (`kytkin ledger verify ...`) and captures their output.
//
// The child's stdout and stderr go to files next to the data dir (never inside it), so tests
// can check what the server printed.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace kytkin::e2e {

// The ports `kytkin serve` bound, from ports.json.
struct ServePorts {
  std::map<std::string, uint16_t> iso;  // listener name -> port
  uint16_t grpc = 0;
  uint16_t http = 0;
};

// What a finished one-shot command did.
struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally (signal)
  std::string output;  // stdout and stderr, interleaved
};

class KytkinProcess {
 public:
  // `binary`: path of the kytkin executable. `work_dir`: an existing directory that holds the
  // data dir (work_dir/data), the config and the server's output files.
  KytkinProcess(std::filesystem::path binary, std::filesystem::path work_dir);
  // Kills a server that is still running (SIGKILL), so a failed test cannot leak a process.
  ~KytkinProcess();
  KytkinProcess(const KytkinProcess&) = delete;
  KytkinProcess& operator=(const KytkinProcess&) = delete;

  // Starts `kytkin serve --demo --data-dir DATA [--config CONFIG] extra_args...` and waits up to
  // `timeout` for ports.json. `config_toml` (may be empty) is written to work_dir/kytkin.toml.
  // Fails when the server exits or does not become ready in time (the message carries its
  // stderr).
  [[nodiscard]] Status Start(const std::string& config_toml,
                             const std::vector<std::string>& extra_args = {},
                             std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGTERM, then waits up to `timeout`; returns the exit code (-1 for a signal or a timeout,
  // after which the child is SIGKILLed).
  [[nodiscard]] int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGKILL and reap: a crash, nothing flushed.
  void Kill();
  bool running() const { return pid_ > 0; }
  // Sends `signal` to a running server (SIGHUP: reload the routing table).
  void Signal(int signal) const {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  // Runs `kytkin args...` to completion (at most `timeout`, then SIGKILL).
  CommandResult Run(const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

  const ServePorts& ports() const { return ports_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // Everything the server printed so far, over all its starts (stdout and stderr).
  std::string ServerStdout() const;
  std::string ServerStderr() const;

 private:
  std::filesystem::path binary_;
  std::filesystem::path work_dir_;
  std::filesystem::path data_dir_;
  pid_t pid_ = -1;
  ServePorts ports_;
};

// Parses ports.json: {"iso8583":{"pos":P,...},"grpc":G,"http":H}.
Result<ServePorts> ParsePortsJson(const std::string& text);

// A whole file's bytes ("" when it cannot be read).
std::string ReadFileBytes(const std::filesystem::path& path);

// GET `path` from 127.0.0.1:port with HTTP/1.0; the whole response (status line, headers, body),
// or "" when the connection fails.
std::string HttpGet(uint16_t port, const std::string& path);

}  // namespace kytkin::e2e
