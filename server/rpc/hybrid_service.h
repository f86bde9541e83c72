// HybridServiceImpl: the hybrid.v1.HybridService adapters (callback API).
//
// Each unary RPC reads: start timer → decode → call the core → convert status →
// record metrics → finish. Predict's torch work runs on `pool` (a full pool is
// RESOURCE_EXHAUSTED); ListModels/GetModel only read snapshots and answer
// inline; LoadModel/UnloadModel block for a model's start-up or drain, so they
// run on `control` (one at a time); SaveCheckpoint/Rollback run on the model's
// calibration worker, in order with its observations. Calibrate streams are
// CalibrateReactor objects. With `tokens` (null: no authentication) every call
// first needs a bearer token with its role (server/core/access_tokens.h): read for
// Predict/ListModels/GetModel/ListEntities/GetEntity, calibrate for
// Calibrate/Observe/DeleteEntity, admin for the rest. Observe and
// DeleteEntity run on the model's calibration worker too.
// Stateless beyond the pointers it is given, which must outlive it.
#pragma once

#include "hybrid/v1/hybrid_service.grpc.pb.h"
#include "server/rpc/service_core.h"

namespace hybrid::server::rpc {

class HybridServiceImpl final : public v1::HybridService::CallbackService {
 public:
  explicit HybridServiceImpl(const ServiceCore& core) : core_(core) {}

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
  grpc::ServerUnaryReactor* Observe(grpc::CallbackServerContext* context, const v1::ObserveRequest* request,
                                    v1::ObserveResponse* response) override;
  grpc::ServerUnaryReactor* ListEntities(grpc::CallbackServerContext* context, const v1::ListEntitiesRequest* request,
                                         v1::ListEntitiesResponse* response) override;
  grpc::ServerUnaryReactor* GetEntity(grpc::CallbackServerContext* context, const v1::GetEntityRequest* request,
                                      v1::GetEntityResponse* response) override;
  grpc::ServerUnaryReactor* DeleteEntity(grpc::CallbackServerContext* context, const v1::DeleteEntityRequest* request,
                                         v1::DeleteEntityResponse* response) override;

 private:
  const ServiceCore core_;
};

}  // namespace hybrid::server::rpc
