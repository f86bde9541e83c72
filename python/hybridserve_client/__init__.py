"""Python client of hybridserve: forecasts as numpy arrays, calibration as a generator.

    from hybridserve_client import HybridClient
    with HybridClient("127.0.0.1:50051") as client:
        forecast = client.predict("lorenz63", [1.0, 1.0, 20.0], times=[0.1, 0.2, 0.5])
        for ack in client.calibrate("lorenz63", windows):   # windows: (start, end, step, steps) tuples
            print(ack.sequence, ack.loss, ack.parameters["rho"])
        client.observe("lorenz63", [Report("station-1", 0.1, {"x": 1.2})])   # sensor readings of an entity
        client.forecast("lorenz63", "station-1", times=[0.1, 0.5])             # from its current estimate

Import it from the build: PYTHONPATH=build/python (scripts/build generates the stubs there).
"""
from hybridserve_client.client import (Acknowledgement, Entity, Forecast, HybridClient, Observation, Report,
                                       ReportOutcome, RpcError, shard_of)

__all__ = ["Acknowledgement", "Entity", "Forecast", "HybridClient", "Observation", "Report", "ReportOutcome",
           "RpcError", "shard_of"]
