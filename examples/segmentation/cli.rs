//! Command-line arguments, validated into a [`Config`] with clear errors.

use std::path::PathBuf;

use clap::Parser;
use tch::Device;

use crate::losses::LossKind;

/// Trains a small 3D U-Net on synthetic volumes with a rare class, once per chosen loss.
#[derive(Parser, Debug)]
#[command(name = "segmentation", about)]
pub struct Args {
    /// Losses to train with, comma-separated: focal, softmax-focal, dice-focal, cross-entropy, or all.
    #[arg(long, default_value = "all")]
    pub loss: String,
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Seed of the data, the weights and the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: i64,
    /// Training steps per loss.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Output folder for the plot and the logs.
    #[arg(long, default_value = "out/segmentation")]
    pub out: PathBuf,
    /// Edge of the cubic volumes, in voxels (a multiple of 4, at least 8).
    #[arg(long, default_value_t = 32)]
    pub size: i64,
    /// Volumes per training batch.
    #[arg(long, default_value_t = 2)]
    pub batch: i64,
    /// Hide the progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// A validated run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub losses: Vec<LossKind>,
    pub device: Device,
    pub seed: i64,
    pub steps: usize,
    pub out: PathBuf,
    pub size: i64,
    pub batch: i64,
    pub quiet: bool,
}

impl Args {
    /// Checks every argument; the error says which and why.
    pub fn validate(self) -> Result<Config, String> {
        if self.steps == 0 {
            return Err("--steps must be at least 1".to_owned());
        }
        if self.size < 8 || self.size % 4 != 0 {
            return Err(format!(
                "--size must be a multiple of 4 and at least 8, got {}",
                self.size
            ));
        }
        if self.batch < 1 {
            return Err(format!("--batch must be at least 1, got {}", self.batch));
        }
        Ok(Config {
            losses: LossKind::parse_list(&self.loss)?,
            device: parse_device(&self.device)?,
            seed: self.seed,
            steps: self.steps,
            out: self.out,
            size: self.size,
            batch: self.batch,
            quiet: self.quiet,
        })
    }
}

/// `auto`, `cpu`, `cuda`, `cuda:N`; CUDA where there is none is an error, not a libtorch trace.
pub fn parse_device(text: &str) -> Result<Device, String> {
    let no_cuda = |asked: &str| {
        format!(
            "--device {asked}: CUDA is not available here (no GPU, or libtorch without CUDA); use --device cpu or auto"
        )
    };
    match text {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => tch::Cuda::is_available()
            .then_some(Device::Cuda(0))
            .ok_or_else(|| no_cuda(text)),
        _ => {
            let index = text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| format!("--device {text}: expected auto, cpu, cuda or cuda:N"))?;
            if !tch::Cuda::is_available() {
                return Err(no_cuda(text));
            }
            let count = tch::Cuda::device_count() as usize;
            if index >= count {
                return Err(format!(
                    "--device {text}: there are {count} CUDA devices (cuda:0 to cuda:{})",
                    count - 1
                ));
            }
            Ok(Device::Cuda(index))
        }
    }
}
