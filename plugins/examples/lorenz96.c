/*
 * Example hybridserve physics plugin in C: Lorenz-96,
 *   dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F   (periodic, n >= 4),
 * advanced by classical RK4, with its exact tangent-linear model.
 * Parameters: theta = (F). See ../hybrid_physics_plugin.h for the ABI.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid_physics_plugin.h"

enum { kOk = 0, kBadSize = 1, kNoMemory = 2, kNotFinite = 3 };

static int wrap(int i, int n) { return ((i % n) + n) % n; }

static void field(int n, const double *x, double F, double *f) {
  for (int i = 0; i < n; ++i) {
    f[i] = (x[wrap(i + 1, n)] - x[wrap(i - 2, n)]) * x[wrap(i - 1, n)] - x[i] + F;
  }
}

static void field_tangent(int n, const double *x, const double *v, double *df) {
  for (int i = 0; i < n; ++i) {
    df[i] = (v[wrap(i + 1, n)] - v[wrap(i - 2, n)]) * x[wrap(i - 1, n)] +
            (x[wrap(i + 1, n)] - x[wrap(i - 2, n)]) * v[wrap(i - 1, n)] - v[i];
  }
}

/* RK4 on x (and on the tangent dx when it is not NULL). */
static int rk4(int n, double *x, double *dx, double F, double h, int steps) {
  static const double node[4] = {0.0, 0.5, 0.5, 1.0};
  static const double weight[4] = {1.0, 2.0, 2.0, 1.0};
  double *work = malloc(sizeof(double) * (size_t)n * 10);
  if (work == NULL) return kNoMemory;
  double *k = work, *dk = work + 4 * n, *stage = work + 8 * n, *dstage = work + 9 * n;
  for (int s = 0; s < steps; ++s) {
    for (int r = 0; r < 4; ++r) {
      for (int j = 0; j < n; ++j) {
        stage[j] = r == 0 ? x[j] : x[j] + node[r] * h * k[(r - 1) * n + j];
        if (dx) dstage[j] = r == 0 ? dx[j] : dx[j] + node[r] * h * dk[(r - 1) * n + j];
      }
      field(n, stage, F, k + r * n);
      if (dx) field_tangent(n, stage, dstage, dk + r * n);
    }
    for (int j = 0; j < n; ++j) {
      for (int r = 0; r < 4; ++r) {
        x[j] += h / 6.0 * weight[r] * k[r * n + j];
        if (dx) dx[j] += h / 6.0 * weight[r] * dk[r * n + j];
      }
    }
  }
  free(work);
  for (int j = 0; j < n; ++j) {
    if (!isfinite(x[j])) return kNotFinite;
  }
  return kOk;
}

int hybrid_plugin_abi_version(void) { return HYBRID_PLUGIN_ABI_VERSION; }

int hybrid_plugin_step(int n, const double *x, int p, const double *theta, double h, int steps, double *out) {
  if (n < 4 || p != 1) return kBadSize;
  memcpy(out, x, sizeof(double) * (size_t)n);
  return rk4(n, out, NULL, theta[0], h, steps);
}

int hybrid_plugin_tangent_linear(int n, const double *x, int p, const double *theta, double h, int steps,
                                 const double *dx, double *dout) {
  if (n < 4 || p != 1) return kBadSize;
  double *state = malloc(sizeof(double) * (size_t)n);
  if (state == NULL) return kNoMemory;
  memcpy(state, x, sizeof(double) * (size_t)n);
  memcpy(dout, dx, sizeof(double) * (size_t)n);
  const int status = rk4(n, state, dout, theta[0], h, steps);
  free(state);
  return status;
}
