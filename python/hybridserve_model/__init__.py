"""Author a hybridserve model in PyTorch: declare its states and parameters, write its physics f(t, x, θ) (and,
if you like, a neural correction g(x; φ)) as torch modules, export a repository folder, and check it with the
server's own load checks before deploying.

    import hybridserve_model as hm
    model = hm.HybridModel(name="sir", physics=Sir(),
                           states=[hm.State("S"), hm.State("I"), hm.State("R")],
                           parameters=[hm.Parameter("beta", "1/day", default=0.3, lower=0.01, upper=5)])
    hm.export(model, "repository/sir")   # config.pbtxt + physics.pt (+ correction.pt)
    hm.check("repository/sir")           # hybridserve --check_model: passes, or raises ModelCheckError

The contracts (shapes, dtypes, what the server checks) are README.md's "Physics written in PyTorch".
"""
from hybridserve_model.declaration import HybridModel, Parameter, State
from hybridserve_model.folder import ModelCheckError, check, export

__all__ = ["HybridModel", "ModelCheckError", "Parameter", "State", "check", "export"]
