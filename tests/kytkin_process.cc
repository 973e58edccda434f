#include "tests/kytkin_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

extern char** environ;

namespace kytkin::e2e {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// How often a wait for a child or a file looks again.
constexpr auto kPollInterval = 10ms;

// Spawns `binary args...` with stdout and stderr appended to the given files. posix_spawn, not
// fork: the test process runs gRPC threads, and only exec is safe after fork in such a process.
Result<pid_t> Spawn(const std::filesystem::path& binary, const std::vector<std::string>& args,
                    const std::filesystem::path& stdout_path,
                    const std::filesystem::path& stderr_path) {
  std::vector<std::string> storage;
  storage.push_back(binary.string());
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return Status::IOError("posix_spawn " + binary.string() + " failed: " + strerror(rc));
  return pid;
}

// Waits for `pid` up to `timeout`: its exit code, -1 for a signal, nullopt on timeout.
std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<ServePorts> ParsePortsJson(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return Status::InvalidArgument("ports.json is not a JSON object");
  const auto& o = v.as_object();
  const auto* iso = o.if_contains("iso8583");
  const auto* grpc = o.if_contains("grpc");
  const auto* http = o.if_contains("http");
  if (!iso || !iso->is_object() || !grpc || !grpc->is_int64() || !http || !http->is_int64()) {
    return Status::InvalidArgument("ports.json lacks iso8583, grpc or http");
  }
  ServePorts ports;
  for (const auto& [name, port] : iso->as_object()) {
    if (!port.is_int64()) return Status::InvalidArgument("ports.json: iso8583 port not a number");
    ports.iso[std::string(name)] = static_cast<uint16_t>(port.as_int64());
  }
  ports.grpc = static_cast<uint16_t>(grpc->as_int64());
  ports.http = static_cast<uint16_t>(http->as_int64());
  return ports;
}

std::string HttpGet(uint16_t port, const std::string& path) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "";
  asio::write(socket, asio::buffer("GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n"), ec);
  if (ec) return "";
  std::string response;
  asio::read(socket, asio::dynamic_buffer(response), ec);  // HTTP/1.0: until the server closes
  return response;
}

KytkinProcess::KytkinProcess(std::filesystem::path binary, std::filesystem::path work_dir)
    : binary_(std::move(binary)), work_dir_(std::move(work_dir)), data_dir_(work_dir_ / "data") {}

KytkinProcess::~KytkinProcess() {
  if (running()) Kill();
}

Status KytkinProcess::Start(const std::string& config_toml,
                            const std::vector<std::string>& extra_args,
                            std::chrono::milliseconds timeout) {
  if (running()) return Status::FailedPrecondition("already running");
  // A ports.json left by the previous run names ports that are gone: wait for a fresh one.
  std::error_code ec;
  std::filesystem::remove(data_dir_ / "ports.json", ec);
  std::vector<std::string> args = {"serve", "--demo", "--data-dir", data_dir_.string()};
  if (!config_toml.empty()) {
    const auto config_path = work_dir_ / "kytkin.toml";
    std::ofstream(config_path) << config_toml;
    args.push_back("--config");
    args.push_back(config_path.string());
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto pid = Spawn(binary_, args, work_dir_ / "serve.stdout", work_dir_ / "serve.stderr");
  if (!pid.ok()) return pid.status();
  pid_ = *pid;

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto ports = ParsePortsJson(ReadFileBytes(data_dir_ / "ports.json"));
    if (ports.ok()) {
      ports_ = *ports;
      return Status::Ok();
    }
    if (auto exited = WaitFor(pid_, 0ms)) {
      pid_ = -1;
      return Status::Unavailable("kytkin serve exited with " + std::to_string(*exited) +
                                 " before it was ready: " + ServerStderr());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      Kill();
      return Status::Unavailable("kytkin serve did not write ports.json in time: " +
                                 ServerStderr());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

int KytkinProcess::Stop(std::chrono::milliseconds timeout) {
  if (!running()) return -1;
  ::kill(pid_, SIGTERM);
  auto code = WaitFor(pid_, timeout);
  if (!code) {
    Kill();
    return -1;
  }
  pid_ = -1;
  return *code;
}

void KytkinProcess::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

CommandResult KytkinProcess::Run(const std::vector<std::string>& args,
                                 std::chrono::milliseconds timeout) const {
  CommandResult result;
  const auto out_path = work_dir_ / "command.out";
  std::error_code ec;
  std::filesystem::remove(out_path, ec);
  auto pid = Spawn(binary_, args, out_path, out_path);
  if (!pid.ok()) {
    result.output = std::string(pid.status().message());
    return result;
  }
  auto code = WaitFor(*pid, timeout);
  if (!code) {
    ::kill(*pid, SIGKILL);
    int status = 0;
    ::waitpid(*pid, &status, 0);
  }
  result.exit_code = code.value_or(-1);
  result.output = ReadFileBytes(out_path);
  return result;
}

std::string KytkinProcess::ServerStdout() const {
  return ReadFileBytes(work_dir_ / "serve.stdout");
}
std::string KytkinProcess::ServerStderr() const {
  return ReadFileBytes(work_dir_ / "serve.stderr");
}

}  // namespace kytkin::e2e
