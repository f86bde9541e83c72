// HybridServiceImpl: the hybrid.v1.HybridService adapters (callback API).
//
// Each unary RPC reads: start timer → decode → call the core → convert status →
// record metrics → finish. Predict's torch work runs on `pool` (a full pool is
// RESOURCE_EXHAUSTED); ListModels/GetModel only read snapshots and answer
// inline. Calibrate streams are CalibrateReactor objects. Stateless beyond the
// pointers it is given, which must outlive it.
#pragma once

#include "hybrid/v1/hybrid_service.grpc.pb.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/thread_pool.h"

namespace hybrid::server::rpc {

class HybridServiceImpl final : public v1::HybridService::CallbackService {
 public:
  HybridServiceImpl(const ModelRegistry* registry, Metrics* metrics, ThreadPool* pool)
      : registry_(registry), metrics_(metrics), pool_(pool) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context, const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerBidiReactor<v1::CalibrateRequest, v1::CalibrateResponse>* Calibrate(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context, const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;

 private:
  const ModelRegistry* const registry_;
  Metrics* const metrics_;
  ThreadPool* const pool_;
};

}  // namespace hybrid::server::rpc
