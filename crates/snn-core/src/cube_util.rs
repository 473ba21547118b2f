//! Helpers shared by the CubeCL kernels of [`crate::neuron::fused`], [`crate::norm`] and
//! [`crate::scale`] (features `cuda`, `vulkan`): the cube size, element-wise launch geometry,
//! operand preparation and in-cube reductions (sum, maximum, minimum index).

use burn::tensor::DType;
use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;
use burn_cubecl::cubecl::{calculate_cube_count_elemwise, CubeCount, CubeDim};
use burn_cubecl::kernel::{cast, into_contiguous};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;

/// Threads per cube: a power of two (the in-cube sum halves it); 256 keeps enough cubes in
/// flight on large tensors and wastes at most one partial cube on small ones.
pub(crate) const CUBE_SIZE: u32 = 256;

/// `tensor` in `dtype`, contiguous (row-major, no pitch), so kernels index it directly.
pub(crate) fn prepare<R: CubeRuntime>(tensor: CubeTensor<R>, dtype: DType) -> CubeTensor<R> {
    let tensor = if tensor.dtype == dtype {
        tensor
    } else {
        cast(tensor, dtype)
    };
    into_contiguous(tensor)
}

/// Cubes of [`CUBE_SIZE`] threads covering `n` threads, one per element.
pub(crate) fn elementwise_geometry<R: CubeRuntime>(
    tensor: &CubeTensor<R>,
    n: usize,
) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new_1d(CUBE_SIZE);
    (
        calculate_cube_count_elemwise(&tensor.client, n, cube_dim),
        cube_dim,
    )
}

/// The sum of `value` over the cube's units (a tree in shared memory), valid in unit 0.
/// Every unit must call it; `cube_size` is the cube's unit count, a power of two.
#[cube]
pub(crate) fn cube_sum<F: Float>(value: F, #[comptime] cube_size: usize) -> F {
    let unit = UNIT_POS_X as usize;
    let mut shared = SharedMemory::<F>::new(cube_size);
    shared[unit] = value;
    sync_cube();
    // A runtime value: a comptime one cannot change inside the (runtime) loop.
    let mut stride = CUBE_DIM_X as usize / 2;
    while stride > 0 {
        if unit < stride {
            let other = shared[unit + stride];
            shared[unit] += other;
        }
        sync_cube();
        stride /= 2;
    }
    shared[0]
}

/// The maximum of `value` over the cube's units, valid in unit 0 (as [`cube_sum`]).
#[cube]
pub(crate) fn cube_max<F: Float>(value: F, #[comptime] cube_size: usize) -> F {
    let unit = UNIT_POS_X as usize;
    let mut shared = SharedMemory::<F>::new(cube_size);
    shared[unit] = value;
    sync_cube();
    let mut stride = CUBE_DIM_X as usize / 2;
    while stride > 0 {
        if unit < stride {
            let other = shared[unit + stride];
            let mine = shared[unit];
            shared[unit] = select(other > mine, other, mine);
        }
        sync_cube();
        stride /= 2;
    }
    shared[0]
}

/// The minimum of `value` over the cube's units, returned to every unit (as [`cube_sum`],
/// with a final barrier so that all units read the result).
#[cube]
pub(crate) fn cube_min_index(value: u32, #[comptime] cube_size: usize) -> u32 {
    let unit = UNIT_POS_X as usize;
    let mut shared = SharedMemory::<u32>::new(cube_size);
    shared[unit] = value;
    sync_cube();
    let mut stride = CUBE_DIM_X as usize / 2;
    while stride > 0 {
        if unit < stride {
            let other = shared[unit + stride];
            let mine = shared[unit];
            shared[unit] = select(other < mine, other, mine);
        }
        sync_cube();
        stride /= 2;
    }
    shared[0]
}
