// hybridserve: serves the models of a model repository over gRPC, with
// Prometheus metrics on a separate HTTP port. Stops cleanly on SIGINT/SIGTERM.
//
//   hybridserve --model_repository=deploy/model_repository
//               --grpc_address=127.0.0.1:50051 --metrics_address=127.0.0.1:9464
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/command_line.h"
#include "server/core/model_registry.h"
#include "server/hybrid_server.h"

ABSL_FLAG(std::string, model_repository, "deploy/model_repository", "Folder of <model>/config.pbtxt");
ABSL_FLAG(std::string, state_dir, "",
          "Folder for each model's write-ahead log and checkpoints (<state_dir>/<model>/); empty: the repository");
ABSL_FLAG(std::string, load_models, "all",
          "Models loaded at start: 'all', 'none', or a comma-separated list (LoadModel loads more later)");
ABSL_FLAG(std::string, shard, "0/1",
          "K/N: this is replica K of N and serves only the models that hash to K (deploy/k8s/README.md)");
ABSL_FLAG(int, max_message_bytes, 16 << 20,
          "Largest request or answer message: larger requests get RESOURCE_EXHAUSTED, Predicts whose answer would be "
          "larger OUT_OF_RANGE");
ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50051", "host:port for gRPC (port 0: any free port)");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464", "host:port for Prometheus /metrics (port 0: any)");
ABSL_FLAG(int, predict_threads, 2, "Threads running Predict");
ABSL_FLAG(int, torch_threads, 1, "LibTorch intra-op threads");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of the gRPC port; with --tls_key, serves TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM roots for client certificates: mutual TLS, clients without a certificate it signed are refused");
ABSL_FLAG(std::string, auth_tokens, "",
          "File of 'client roles token' lines (roles: read, calibrate, admin); every RPC then needs "
          "'authorization: Bearer <token>' with its role (see server/core/access_tokens.h)");
ABSL_FLAG(std::string, ports_file, "",
          "If set, written once serving: 'grpc_port=N\\nmetrics_port=M\\n' (for scripts using port 0)");

ABSL_FLAG(std::string, check_model, "",
          "If set: load the model of this folder (<folder>/config.pbtxt) with every check a load runs, keep no "
          "state, say whether it passes (exit 0) or why it would be FAILED (exit 1), and stop; serves nothing");

int main(int argc, char** argv) {
  hybrid::base::ParseCommandLine(argc, argv,
                                 "hybridserve [flags]: serves hybrid scientific/ML models over gRPC "
                                 "(see README.md)");
  if (const std::string dir = absl::GetFlag(FLAGS_check_model); !dir.empty()) {
    absl::StatusOr<std::string> report = hybrid::server::CheckModelFolder(dir);
    if (!report.ok()) {
      std::fprintf(stderr, "hybridserve: %s would be FAILED: %s\n", dir.c_str(), report.status().ToString().c_str());
      return 1;
    }
    std::printf("hybridserve: %s: %s\n", dir.c_str(), report->c_str());
    return 0;
  }

  // Block the stop signals in every thread, then wait for them on this one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  hybrid::server::HybridServer::Options options;
  options.model_repository = absl::GetFlag(FLAGS_model_repository);
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  const std::string load = absl::GetFlag(FLAGS_load_models);
  options.load_all_models = load == "all";
  if (load != "all" && load != "none") options.load_models = absl::StrSplit(load, ',', absl::SkipEmpty());
  absl::StatusOr<hybrid::base::Shard> shard = hybrid::base::ParseShard(absl::GetFlag(FLAGS_shard));
  if (!shard.ok()) {
    std::fprintf(stderr, "hybridserve: %s\n", shard.status().ToString().c_str());
    return 1;
  }
  options.shard = *shard;
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.predict_threads = absl::GetFlag(FLAGS_predict_threads);
  options.torch_threads = absl::GetFlag(FLAGS_torch_threads);
  options.tls.cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  options.auth_tokens_file = absl::GetFlag(FLAGS_auth_tokens);
  absl::StatusOr<std::unique_ptr<hybrid::server::HybridServer>> server = hybrid::server::HybridServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "hybridserve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("hybridserve: serving %s (shard %s) on gRPC port %d, metrics on port %d\n",
              options.model_repository.c_str(), options.shard.ToString().c_str(), (*server)->grpc_port(),
              (*server)->metrics_port());
  // What protects the port, never the secrets themselves.
  std::printf("hybridserve: gRPC transport %s; %s\n",
              options.tls.cert.empty()        ? "plaintext"
              : options.tls.client_ca.empty() ? "TLS"
                                              : "mutual TLS",
              options.auth_tokens_file.empty() ? "no authentication"
                                               : absl::StrCat("bearer tokens from ", options.auth_tokens_file).c_str());
  if (options.auth_tokens_file.empty() && !absl::StartsWith(options.grpc_address, "127.") &&
      !absl::StartsWith(options.grpc_address, "localhost:") && !absl::StartsWith(options.grpc_address, "[::1]")) {
    std::fprintf(stderr,
                 "hybridserve: warning: %s is reachable from other machines and every client may "
                 "load, unload and roll back models; set --auth_tokens (and --tls_cert/--tls_key)\n",
                 options.grpc_address.c_str());
  }
  std::fflush(stdout);

  if (const std::string path = absl::GetFlag(FLAGS_ports_file); !path.empty()) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << "grpc_port=" << (*server)->grpc_port() << "\nmetrics_port=" << (*server)->metrics_port()
                       << "\n";
    std::rename(tmp.c_str(), path.c_str());  // Readers never see a half-written file.
  }

  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::printf("hybridserve: signal %d, shutting down\n", signal);
  std::fflush(stdout);
  (*server)->Shutdown();
  server->reset();
  std::printf("hybridserve: stopped\n");
  return 0;
}
