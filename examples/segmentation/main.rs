//! The main demo: trains a small 3D U-Net on synthetic volumes with a rare class, with each loss
//! chosen by flag, and shows per-class Dice, training curves and a log.
//!
//! ```sh
//! make demo                     # the default run: every loss, compared
//! cargo run --release --example segmentation -- --loss focal,cross-entropy --steps 100 --device cpu
//! ```

mod app;
mod cli;
mod data;
mod losses;
mod model;
mod report;

fn main() {
    std::process::exit(app::run_from(std::env::args()));
}
