// HybridServiceImpl: the hybrid.v1.HybridService adapters (callback API).
//
// Each unary RPC reads: start timer → decode → call the core → convert status →
// record metrics → finish. Predict's torch work runs on `pool` (a full pool is
// RESOURCE_EXHAUSTED); ListModels/GetModel only read snapshots and answer
// inline; LoadModel/UnloadModel block for a model's start-up or drain, so they
// run on `control` (one at a time); SaveCheckpoint/Rollback run on the model's
// calibration worker, in order with its observations. Calibrate streams are
// CalibrateReactor objects. With `tokens` (null: no authentication) every call
// first needs a bearer token with its role (server/access_tokens.h): read for
// Predict/ListModels/GetModel, calibrate for Calibrate, admin for the rest.
// Stateless beyond the pointers it is given, which must outlive it.
#pragma once

#include "hybrid/v1/hybrid_service.grpc.pb.h"
#include "server/access_tokens.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/rpc/predict_call.h"
#include "server/rpc/unary_call.h"
#include "server/thread_pool.h"

namespace hybrid::server::rpc {

class HybridServiceImpl final : public v1::HybridService::CallbackService {
 public:
  HybridServiceImpl(ModelRegistry* registry, Metrics* metrics, const PredictCall* predict, ThreadPool* control,
                    const AccessTokens* tokens)
      : registry_(registry), metrics_(metrics), control_(control), tokens_(tokens), predict_(predict) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context, const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::ServerBidiReactor<v1::CalibrateRequest, v1::CalibrateResponse>* Calibrate(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModel(grpc::CallbackServerContext* context, const v1::GetModelRequest* request,
                                     v1::GetModelResponse* response) override;
  grpc::ServerUnaryReactor* LoadModel(grpc::CallbackServerContext* context, const v1::LoadModelRequest* request,
                                      v1::LoadModelResponse* response) override;
  grpc::ServerUnaryReactor* UnloadModel(grpc::CallbackServerContext* context, const v1::UnloadModelRequest* request,
                                        v1::UnloadModelResponse* response) override;
  grpc::ServerUnaryReactor* SaveCheckpoint(grpc::CallbackServerContext* context,
                                           const v1::SaveCheckpointRequest* request,
                                           v1::SaveCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* Rollback(grpc::CallbackServerContext* context, const v1::RollbackRequest* request,
                                     v1::RollbackResponse* response) override;

 private:
  // Finishes the call UNAUTHENTICATED / PERMISSION_DENIED (true) unless its token has `needed`.
  bool Refused(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor, const char* rpc, Role needed,
               UnaryClock::time_point started);

  ModelRegistry* const registry_;
  Metrics* const metrics_;
  ThreadPool* const control_;
  const AccessTokens* const tokens_;
  const PredictCall* const predict_;
};

}  // namespace hybrid::server::rpc
