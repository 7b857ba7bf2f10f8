//! The floor loops and what they share, as one module: `compute_floor`'s own, and the loss
//! benchmark's (`benches/losses.rs` times them in the same rounds as the losses).

#[path = "dice.rs"]
pub mod dice;
#[path = "inputs.rs"]
pub mod inputs;
#[path = "seed_focal.rs"]
pub mod seed_focal;
#[path = "sigmoid_focal.rs"]
pub mod sigmoid_focal;
#[path = "simd.rs"]
pub mod simd;
#[path = "softmax_focal.rs"]
pub mod softmax_focal;
#[path = "threads.rs"]
pub mod threads;
