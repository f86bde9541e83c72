! Example hybridserve physics plugin in Fortran: Lorenz-63,
!   dx = sigma (y - x),  dy = x (rho - z) - y,  dz = x y - beta z,
! advanced by classical RK4. Parameters: theta = (sigma, rho, beta).
! It exports no tangent-linear model: ega-ensemble estimates the Jacobian
! from perturbed runs. See ../hybrid_physics_plugin.h for the ABI.
module hybrid_lorenz63_plugin
  use, intrinsic :: iso_c_binding, only: c_int, c_double
  implicit none
  private
  public :: hybrid_plugin_abi_version, hybrid_plugin_step

contains

  integer(c_int) function hybrid_plugin_abi_version() bind(C, name="hybrid_plugin_abi_version")
    hybrid_plugin_abi_version = 1
  end function hybrid_plugin_abi_version

  pure function field(x, theta) result(f)
    real(c_double), intent(in) :: x(3), theta(3)
    real(c_double) :: f(3)
    f(1) = theta(1) * (x(2) - x(1))
    f(2) = x(1) * (theta(2) - x(3)) - x(2)
    f(3) = x(1) * x(2) - theta(3) * x(3)
  end function field

  integer(c_int) function hybrid_plugin_step(n, x, p, theta, h, steps, out) &
      bind(C, name="hybrid_plugin_step")
    use, intrinsic :: ieee_arithmetic, only: ieee_is_finite
    integer(c_int), value, intent(in) :: n, p, steps
    real(c_double), value, intent(in) :: h
    real(c_double), intent(in) :: x(n), theta(p)
    real(c_double), intent(out) :: out(n)
    real(c_double) :: k1(3), k2(3), k3(3), k4(3)
    integer :: s

    if (n /= 3 .or. p /= 3) then
      out = 0.0_c_double
      hybrid_plugin_step = 1
      return
    end if
    out = x
    do s = 1, steps
      k1 = field(out, theta)
      k2 = field(out + 0.5_c_double * h * k1, theta)
      k3 = field(out + 0.5_c_double * h * k2, theta)
      k4 = field(out + h * k3, theta)
      out = out + h / 6.0_c_double * (k1 + 2.0_c_double * k2 + 2.0_c_double * k3 + k4)
    end do
    if (all(ieee_is_finite(out))) then
      hybrid_plugin_step = 0
    else
      hybrid_plugin_step = 3
    end if
  end function hybrid_plugin_step

end module hybrid_lorenz63_plugin
