/*
 * hybridserve physics plugin ABI, version 1.
 *
 * A plugin is a shared library that exports a physics solver step
 * Psi(x; theta, h, steps) so that hybridserve can calibrate a neural
 * correction and the physical parameters of a solver it cannot differentiate.
 * A model's config names the library, the state dimension and the parameters
 * (names, bounds, defaults): the plugin itself only computes.
 *
 * Exported symbols (C linkage; Fortran: bind(C, name="...")):
 *
 *   int hybrid_plugin_abi_version(void);                        required
 *       Returns HYBRID_PLUGIN_ABI_VERSION the plugin was written for.
 *
 *   int hybrid_plugin_step(int n, const double *x, int p,       required
 *                          const double *theta, double h,
 *                          int steps, double *out);
 *       Advances the state x[0..n) by `steps` >= 1 steps of size h > 0 with
 *       the physical parameters theta[0..p) and writes the result to
 *       out[0..n) (out never aliases x). Returns 0 on success; any other
 *       value is an error code that the server reports (the state is then
 *       discarded). A plugin that does not support (n, p) returns non-zero.
 *
 *   int hybrid_plugin_tangent_linear(int n, const double *x,     optional
 *                                    int p, const double *theta,
 *                                    double h, int steps,
 *                                    const double *dx, double *dout);
 *       The tangent-linear model: dout = (dPsi/dx at x) . dx, for the same
 *       step. Enables the ega-tlm calibrator; without it ega-ensemble
 *       estimates the Jacobian from perturbed runs instead.
 *
 * Contract: every function must be reentrant and thread-safe (no global
 * mutable state): the server calls them from several threads at once.
 * Parameters arrive as physical values (never logs). Arrays are contiguous
 * doubles. The server never unloads a library while a model uses it.
 */
#ifndef HYBRID_PHYSICS_PLUGIN_H_
#define HYBRID_PHYSICS_PLUGIN_H_

#define HYBRID_PLUGIN_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

int hybrid_plugin_abi_version(void);
int hybrid_plugin_step(int n, const double *x, int p, const double *theta, double h, int steps, double *out);
int hybrid_plugin_tangent_linear(int n, const double *x, int p, const double *theta, double h, int steps,
                                 const double *dx, double *dout);

#ifdef __cplusplus
}
#endif

#endif /* HYBRID_PHYSICS_PLUGIN_H_ */
