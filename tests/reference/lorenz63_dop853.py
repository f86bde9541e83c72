#!/usr/bin/python3
"""Independent high-accuracy reference for the solver tests.

Lorenz-63 (sigma=10, rho=28, beta=8/3) from (-8, 7, 27) over t in [0, 5],
integrated with SciPy's DOP853 at rtol = atol = 1e-13, sampled every 0.05.
Writes tests/data/lorenz63_dop853.csv (t,x,y,z with 17 significant digits).

Run once with Debian's python3 (python3-scipy): /usr/bin/python3 tests/reference/lorenz63_dop853.py
"""
import os

import numpy as np
from scipy.integrate import solve_ivp


def lorenz63(_t, s, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    x, y, z = s
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


def main():
    times = np.round(np.arange(1, 101) * 0.05, 12)
    sol = solve_ivp(lorenz63, (0.0, 5.0), [-8.0, 7.0, 27.0], method="DOP853",
                    rtol=1e-13, atol=1e-13, t_eval=times)
    assert sol.success, sol.message
    out = os.path.join(os.path.dirname(__file__), "..", "data", "lorenz63_dop853.csv")
    with open(out, "w") as f:
        f.write("# Lorenz-63 from (-8, 7, 27), SciPy %s DOP853 rtol=atol=1e-13; see tests/reference/lorenz63_dop853.py\n"
                % __import__("scipy").__version__)
        f.write("t,x,y,z\n")
        for t, row in zip(sol.t, sol.y.T):
            f.write("%.17g,%.17g,%.17g,%.17g\n" % (t, *row))
    print("wrote", os.path.normpath(out), "with", len(sol.t), "rows;", sol.nfev, "evaluations")


if __name__ == "__main__":
    main()
