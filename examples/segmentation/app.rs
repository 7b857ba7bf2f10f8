//! The run: data, one training per loss, evaluation, report.

use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Kind, Tensor};

use crate::cli::{Args, Config};
use crate::data::{self, Batch, CLASSES};
use crate::losses::LossKind;
use crate::model::UNet3d;
use crate::report;

/// Training volumes (sampled in batches) and held-out evaluation volumes.
const TRAIN_VOLUMES: i64 = 12;
const EVAL_VOLUMES: i64 = 4;

/// What one loss's training produced.
pub struct LossRun {
    pub kind: LossKind,
    /// The training loss at each step.
    pub curve: Vec<f64>,
    /// Per-class Dice on the held-out set.
    pub dice: Vec<f64>,
    pub seconds: f64,
    pub voxels_per_second: f64,
}

/// Everything a run produced.
pub struct Summary {
    pub config: Config,
    pub runs: Vec<LossRun>,
    pub class_fractions: Vec<f64>,
    pub seconds: f64,
}

/// Parses `args`, runs, prints the report; returns the process's exit code (2 for bad arguments).
pub fn run_from(args: impl IntoIterator<Item = String>) -> i32 {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let config = match args.validate() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return 2;
        }
    };
    match run(&config) {
        Ok(summary) => {
            println!("{}", report::dice_table(&summary));
            match report::write_all(&summary) {
                Ok(()) => {
                    println!(
                        "wrote curves.png, training.csv, dice.csv and summary.json to {}",
                        config.out.display()
                    );
                    0
                }
                Err(e) => {
                    eprintln!("error: writing the report to {}: {e}", config.out.display());
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Trains and evaluates each chosen loss.
pub fn run(config: &Config) -> Result<Summary, focal::LossError> {
    let start = Instant::now();
    let train = data::make_batch(TRAIN_VOLUMES, config.size, config.seed, config.device);
    let eval = data::make_batch(
        EVAL_VOLUMES,
        config.size,
        config.seed + 1_000_003,
        config.device,
    );
    let class_fractions = data::class_fractions(&train.labels);
    if !config.quiet {
        let shown: Vec<String> = class_fractions
            .iter()
            .map(|f| format!("{:.3}%", 100.0 * f))
            .collect();
        println!(
            "{} training volumes of {}^3 on {}; class fractions (background, sphere, tube): {}",
            TRAIN_VOLUMES,
            config.size,
            focal::device_name(config.device),
            shown.join(", ")
        );
    }
    let mut runs = Vec::new();
    for kind in &config.losses {
        runs.push(train_one(*kind, config, &train, &eval)?);
    }
    Ok(Summary {
        config: config.clone(),
        runs,
        class_fractions,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn train_one(
    kind: LossKind,
    config: &Config,
    train: &Batch,
    eval: &Batch,
) -> Result<LossRun, focal::LossError> {
    tch::manual_seed(config.seed);
    let vs = nn::VarStore::new(config.device);
    let net = UNet3d::new(&vs.root(), 1, CLASSES, 8);
    let mut opt = nn::Adam::default()
        .build(&vs, 3e-3)
        .map_err(focal::LossError::from)?;
    let loss_fn = kind.build();
    let bar = if config.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(config.steps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(kind.name());
    let voxels_per_step = (config.batch * config.size.pow(3)) as f64;
    let start = Instant::now();
    let mut curve = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let first = (step as i64 * config.batch) % TRAIN_VOLUMES;
        let index = Tensor::arange_start(first, first + config.batch, (Kind::Int64, config.device))
            .remainder(TRAIN_VOLUMES);
        let images = train.images.index_select(0, &index);
        let labels = train.labels.index_select(0, &index);
        let logits = net.forward(&images);
        let loss = loss_fn.f_forward(&logits, &labels)?;
        opt.backward_step(&loss);
        let value = loss.double_value(&[]);
        curve.push(value);
        let rate = voxels_per_step * (step + 1) as f64 / start.elapsed().as_secs_f64();
        bar.set_message(format!("loss {value:.4}  {:.2} Mvox/s", rate / 1e6));
        bar.inc(1);
    }
    bar.finish();
    let seconds = start.elapsed().as_secs_f64();
    let dice = tch::no_grad(|| evaluate(&net, eval));
    Ok(LossRun {
        kind,
        curve,
        dice,
        seconds,
        voxels_per_second: voxels_per_step * config.steps as f64 / seconds,
    })
}

/// Per-class Dice of the argmax prediction over the whole held-out set (1 where a class is absent
/// from both prediction and truth).
pub fn evaluate(net: &UNet3d, eval: &Batch) -> Vec<f64> {
    let prediction = net.forward(&eval.images).argmax(1, false);
    (0..CLASSES)
        .map(|c| {
            let p = prediction.eq(c);
            let g = eval.labels.eq(c);
            let overlap = p.logical_and(&g).sum(Kind::Float).double_value(&[]);
            let total = p.sum(Kind::Float).double_value(&[]) + g.sum(Kind::Float).double_value(&[]);
            if total == 0.0 {
                1.0
            } else {
                2.0 * overlap / total
            }
        })
        .collect()
}
