"""Author a hybridserve model in PyTorch: declare its states and parameters, write its physics f(t, x, θ) (and,
if you like, a neural correction g(x; φ)) as torch modules, export a repository folder, and check it with the
server's own load checks before deploying.

    import hybridserve_model as hm
    model = hm.HybridModel(name="sir", physics=Sir(),
                           states=[hm.State("S"), hm.State("I"), hm.State("R")],
                           parameters=[hm.Parameter("beta", "1/day", default=0.3, lower=0.01, upper=5)])
    hm.export(model, "repository/sir")   # config.pbtxt + physics.pt (+ correction.pt)
    hm.check("repository/sir")           # hybridserve --check_model: passes, or raises ModelCheckError
    with hm.serve("repository") as server: ...   # a local hybridserve to try it (server.target)

The contracts (shapes, dtypes, what the server checks) are README.md's "Bring your own PyTorch model".
"""
from hybridserve_model.declaration import HybridModel, Observable, Parameter, State
from hybridserve_model.folder import ModelCheckError, check, export
from hybridserve_model.local_server import LocalServer, serve
from hybridserve_model import simulate

__all__ = ["HybridModel", "LocalServer", "Observable", "ModelCheckError", "Parameter", "State", "check", "export", "serve",
           "simulate"]
