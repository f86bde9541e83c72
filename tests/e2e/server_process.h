// ServerProcess: the real hybridserve binary (path HYBRIDSERVE, a compile
// definition) as a child process, for tests that kill it or measure it.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "hybrid/v1/hybrid_service.grpc.pb.h"

namespace hybrid::testing {

// A hybridserve child process on loopback with OS-chosen ports, its output
// appended to <work>/server.log; SIGTERM (clean stop) when destroyed.
class ServerProcess {
 public:
  ServerProcess(const std::string& repository, const std::string& state, const std::string& work) {
    const std::string ports = work + "/ports", log = work + "/server.log";
    std::filesystem::remove(ports);
    std::fflush(stdout);  // Or the child would print what this process buffered.
    pid_ = ::fork();
    if (pid_ == 0) {
      std::freopen(log.c_str(), "a", stderr);
      std::freopen(log.c_str(), "a", stdout);
      const std::string a1 = "--model_repository=" + repository, a2 = "--state_dir=" + state,
                        a3 = "--ports_file=" + ports;
      ::execl(HYBRIDSERVE, HYBRIDSERVE, a1.c_str(), a2.c_str(), a3.c_str(), "--grpc_address=127.0.0.1:0",
              "--metrics_address=127.0.0.1:0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 300 && !std::filesystem::exists(ports); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(ports);
    std::string line;
    std::getline(in, line);  // grpc_port=N
    EXPECT_EQ(line.rfind("grpc_port=", 0), 0u) << "hybridserve did not start; see " << log;
    target_ = "127.0.0.1:" + line.substr(line.find('=') + 1);
    stub_ = v1::HybridService::NewStub(grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  }
  ~ServerProcess() {
    if (pid_ > 0) Kill(SIGTERM);
  }
  void Kill(int signal) {
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  v1::HybridService::Stub& stub() { return *stub_; }
  const std::string& target() const { return target_; }
  pid_t pid() const { return pid_; }
  // Resident memory of the process in KiB (VmRSS), −1 when unreadable.
  long ResidentKib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  std::string target_;
  std::unique_ptr<v1::HybridService::Stub> stub_;
};

}  // namespace hybrid::testing
